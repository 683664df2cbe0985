"""Received submissions: what came in, when, from whom, and which one counts."""
