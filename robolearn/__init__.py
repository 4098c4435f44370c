"""robolearn: multitask robot learning on MuJoCo and PyBullet.

Importing this package stays light (no torch): `robolearn.spec` holds the conventions
that simulators, datasets, learners and the ROS bridge all share.
"""
__version__ = "0.1.0"
