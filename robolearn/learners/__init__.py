"""Learners over the policy networks of `robolearn.policies`: multitask SAC and PPO."""
from robolearn.learners.ppo import PPO
from robolearn.learners.sac import SAC

Agent = SAC | PPO  # both offer act(), routes(), update(), state_dict(), load_state_dict()
