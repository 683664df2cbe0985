"""The error that marks a failure as ours, not the student's: the run is retried, never given a zero."""

from __future__ import annotations


class InfrastructureError(Exception):
    """Something of ours failed; the submission is not to blame."""
