"""Erasing one student's data (on request, or once the retention period has run out)."""
