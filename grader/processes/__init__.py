"""Processes the service starts for its own trusted work (plumbing: no domain code here)."""
