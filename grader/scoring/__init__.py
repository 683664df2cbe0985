"""Mark arithmetic: pure functions from test outcomes, manual marks and lateness to scores and totals.

No I/O and no tables; the markers' stored decisions live in ``grader.marking``.
"""
