"""Markers' work in the gradebook: manual marks, overrides of auto scores, penalty decisions.

(The arithmetic of marks is ``grader.scoring``: pure functions. This package stores what people did.)
"""
