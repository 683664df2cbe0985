"""Rendering a student's notebook with bounds: in a child process, under a wall-clock limit and a
memory limit, killed (with anything it started) when the time is up.

nbconvert, pygments and the sanitiser run on student input outside the sandbox, and some small
notebooks take minutes (0.2 MB of nested ``<div>`` in one output, a long one-line code cell). The
worker must not hang on them, nor run out of memory: a notebook that is not rendered in time gets
a short page saying so (``notice_page``), which markers see where the notebook would be.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys

from grader.notebooks.render import RenderError
from grader.notebooks.render_child import EXIT_OUT_OF_MEMORY, EXIT_UNREADABLE
from grader.settings import RenderLimits

# All the child needs to find Python, the grader package and nbconvert's templates; not the
# worker's settings (database URL, secret key), which student input has no business near.
CHILD_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "JUPYTER_PATH", "JUPYTER_DATA_DIR")


class RenderTimedOut(RenderError):
    """The notebook was not rendered within the wall-clock limit."""


class RenderOutOfMemory(RenderError):
    """Rendering the notebook needed more memory than the limit."""


def render_bounded(data: bytes, *, title: str, limits: RenderLimits) -> bytes:
    """``render_notebook(data, title=title)`` in a child process, within ``limits``.

    Raises ``RenderTimedOut``, ``RenderOutOfMemory``, or ``RenderError`` (not a readable notebook).
    """
    command = [
        sys.executable,
        "-m",
        "grader.notebooks.render_child",
        "--title",
        title,
        "--memory-mb",
        str(limits.memory_mb),
        "--cpu-s",
        str(math.ceil(limits.timeout_s) + 1),
    ]
    environment = {k: os.environ[k] for k in CHILD_ENVIRONMENT if k in os.environ}
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        start_new_session=True,
    )  # its own group: killed with what it started
    try:
        page, errors = child.communicate(data, timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        raise RenderTimedOut(f"the notebook could not be rendered in time ({limits.timeout_s:g} s)") from None
    except BaseException:
        _kill_group(child)
        raise
    if child.returncode == 0:
        return page
    if child.returncode == EXIT_UNREADABLE:
        raise RenderError(errors.decode("utf-8", "replace"))
    if child.returncode == EXIT_OUT_OF_MEMORY or child.returncode < 0:  # a signal: an allocation abort, mostly
        raise RenderOutOfMemory(
            f"rendering the notebook needed more than {limits.memory_mb} MB of memory (exit {child.returncode})"
        )
    raise RenderError(f"the renderer failed (exit {child.returncode}): {errors.decode('utf-8', 'replace')[-500:]}")


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.communicate()  # reap it and close the pipes
