"""Rendering for markers runs in a child process with a wall-clock and a memory limit: a notebook
that is slow to render is killed on time, with nothing left running, and markers get a page saying
so; a fine notebook renders exactly as in-process.

What is slow was measured on the development machine (2 cores): one output of nested ``<div>``
takes nbconvert and the sanitiser about 5 s for 20,000 levels (0.1 MB) and grows faster than
linearly; a one-line code cell listing 200,000 numbers took 72 s. The tests use 40,000 levels.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from grader.notebooks.bounded import RenderOutOfMemory, RenderTimedOut, render_bounded
from grader.notebooks.marker_page import marker_page
from grader.notebooks.render import RENDER_CSP, RenderError, render_notebook
from grader.settings import RenderLimits

v4 = nbformat.v4
LIMIT_S = 3
STARTUP_SLACK_S = 10  # the child's Python and nbconvert imports, on a busy shared machine


def fine_notebook() -> bytes:
    return nbformat.writes(
        v4.new_notebook(
            cells=[
                v4.new_markdown_cell("## 2.1 Curves\nThe loss falls."),
                v4.new_code_cell(
                    "print(1)", execution_count=1, outputs=[v4.new_output("stream", name="stdout", text="1\n")]
                ),
            ]
        )
    ).encode()


def slow_notebook(levels: int = 40_000) -> bytes:
    html = "<div>" * levels
    return nbformat.writes(
        v4.new_notebook(
            cells=[v4.new_code_cell("show()", outputs=[v4.new_output("display_data", data={"text/html": html})])]
        )
    ).encode()


def children_titled(title: str) -> list[int]:
    """Processes whose command line carries ``title`` (each test's render gets a unique one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if title.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def environ_of(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:
        return b""


def test_a_fine_notebook_renders_exactly_as_in_process():
    data = fine_notebook()
    page = render_bounded(data, title="cwa: fine", limits=RenderLimits(timeout_s=60))
    assert page == render_notebook(data, title="cwa: fine")
    assert b"The loss falls." in page


def test_a_notebook_slow_to_render_is_killed_on_time_and_nothing_is_left_running(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_KEY", "not-for-the-renderer")
    title = f"slow-{uuid.uuid4().hex}"
    outcome: list[BaseException] = []

    def render() -> None:
        try:
            render_bounded(slow_notebook(), title=title, limits=RenderLimits(timeout_s=LIMIT_S))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=render)
    thread.start()
    while not children_titled(title) and thread.is_alive():
        time.sleep(0.05)
    environments = [environ_of(pid) for pid in children_titled(title)]
    thread.join()
    assert LIMIT_S <= time.monotonic() - started < LIMIT_S + STARTUP_SLACK_S
    assert len(outcome) == 1 and isinstance(outcome[0], RenderTimedOut), outcome
    assert f"in time ({LIMIT_S} s)" in str(outcome[0])
    assert children_titled(title) == []
    assert environments and all(b"GRADER_SECRET_KEY" not in env for env in environments)  # no settings inherited


def test_a_notebook_too_big_to_render_in_the_memory_limit_is_stopped():
    text = ("abc def " * 10 + "\n") * 600_000  # 48 MB of output: several copies while rendering
    data = nbformat.writes(
        v4.new_notebook(cells=[v4.new_code_cell("x", outputs=[v4.new_output("stream", name="stdout", text=text)])])
    ).encode()
    with pytest.raises(RenderOutOfMemory, match="256 MB"):
        render_bounded(data, title="big", limits=RenderLimits(timeout_s=120, memory_mb=256))


def test_an_unreadable_notebook_is_a_render_error_not_a_timeout():
    with pytest.raises(RenderError, match="not a readable notebook") as raised:
        render_bounded(b"not json", title="x", limits=RenderLimits(timeout_s=60))
    assert not isinstance(raised.value, (RenderTimedOut, RenderOutOfMemory))


def test_markers_get_a_page_saying_the_notebook_could_not_be_rendered_in_time(tmp_path):
    path = tmp_path / "cwa.ipynb"
    path.write_bytes(slow_notebook())
    page = marker_page(
        path, notebook_name="cwa.ipynb", title="cwa: slow", limits=RenderLimits(timeout_s=LIMIT_S), max_bytes=1 << 20
    ).decode()
    assert f"The notebook could not be rendered in time (the limit is {LIMIT_S} s)" in page
    assert RENDER_CSP in page and "<div><div>" not in page
    path.write_bytes(fine_notebook())
    fine = marker_page(
        path, notebook_name="cwa.ipynb", title="cwa: fine", limits=RenderLimits(timeout_s=60), max_bytes=1 << 20
    )
    assert fine == render_notebook(fine_notebook(), title="cwa: fine")
