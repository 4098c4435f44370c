"""Many robot actors, one learner, on Ray (`robolearn fleet`)."""
