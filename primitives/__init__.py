"""Primitives learned from demonstrations and stitched into compound skills (issue: primitives)."""
