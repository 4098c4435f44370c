"""Teleoperation, recording, replay and dataset import/export (issue: demos)."""
