"""Courseworks as the gradebook records them, and per-student deadline extensions."""
