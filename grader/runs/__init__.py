"""Grading runs: the queue of record, and what each run found."""
