"""Learners: multitask SAC (MT-SAC recipe) over the policy networks of `robolearn.policies`."""
