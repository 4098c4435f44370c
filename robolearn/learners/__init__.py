"""Learners over the policy networks of `robolearn.policies`: multitask SAC, PPO and behaviour cloning."""
from robolearn.learners.bc import BC
from robolearn.learners.ppo import PPO
from robolearn.learners.sac import SAC

Agent = SAC | PPO | BC  # all offer act(), routes(), update(), state_dict(), load_state_dict()
