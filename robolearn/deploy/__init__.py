"""Deploying trained policies to real arms (issue: ROS deploy). So far: the safety layer."""
