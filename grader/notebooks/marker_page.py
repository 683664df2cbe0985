"""The page markers read for a submission: its notebook (the member intake graded) rendered and
sanitised within the render limits, or a short page of ours saying why it could not be rendered."""

from __future__ import annotations

from pathlib import Path

from grader.notebooks.bounded import RenderOutOfMemory, RenderTimedOut, render_bounded
from grader.notebooks.reading import notebook_from_path
from grader.notebooks.render import notice_page
from grader.settings import RenderLimits

TIMED_OUT = "The notebook could not be rendered in time (the limit is {limit:g} s). Download the notebook to read it."
OUT_OF_MEMORY = "The notebook could not be rendered within {limit} MB of memory. Download the notebook to read it."


def marker_page(
    path: Path, *, notebook_name: str, title: str, limits: RenderLimits, max_bytes: int, snapshot: bool = False
) -> bytes:
    """The page for the submission file at ``path``. Raises ``NotebookUnreadable`` (no notebook to
    show) or ``RenderError`` (not a readable notebook); the marks stand without a page."""
    data = notebook_from_path(path, notebook_name, max_bytes, snapshot=snapshot)
    try:
        return render_bounded(data, title=title, limits=limits)
    except RenderTimedOut:
        return notice_page(title, TIMED_OUT.format(limit=limits.timeout_s))
    except RenderOutOfMemory:
        return notice_page(title, OUT_OF_MEMORY.format(limit=limits.memory_mb))
