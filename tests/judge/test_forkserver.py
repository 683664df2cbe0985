"""The judge fork server: judges forked from one template, each a session of its own, none
sharing state with another; a server that dies or is closed leaves no judge behind and no job
unserved (the cold way takes over)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from rubric_factory import make_rubric

from grader.grading.pipeline import grade_submission
from grader.processes.forkserver import ForkServer, ForkServerError, _alive
from grader.rubrics.loader import CourseworkFiles
from grader.settings import get_settings
from workers.judge.launcher import judge_fork_server, start_judge
from workers.judge.warm_pool import WarmJudges


@pytest.fixture
def server():
    server = judge_fork_server()
    assert server.wait_ready(), "the fork server did not start"
    yield server
    server.close()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def test_a_forked_judge_is_the_judge_with_its_own_output_and_exit_code(server: ForkServer) -> None:
    judge = server.spawn(["too", "many"])
    out, _ = judge.communicate(timeout=30)
    assert judge.returncode == 2
    assert b"usage: python -m workers.judge" in out
    missing = server.spawn(["/nonexistent/job.json"])
    out, _ = missing.communicate(timeout=30)
    assert (missing.returncode, b"bad job file" in out) == (2, True)


def test_a_forked_judge_leads_its_own_process_group_killed_whole(server: ForkServer) -> None:
    judge = server.spawn(["--warm"], stdin=True)  # waits up to 30 s for its unit line
    assert _ppid(judge.pid) == server.proc.pid  # forked by the template, not started by us
    assert os.getpgid(judge.pid) == judge.pid  # set before spawn() returned: a kill cannot miss it
    with pytest.raises(subprocess.TimeoutExpired):
        judge.wait(timeout=0.2)
    judge.kill()
    assert judge.wait(timeout=10) == -signal.SIGKILL


def test_closing_the_server_kills_the_judges_it_forked(server: ForkServer) -> None:
    judge = server.spawn(["--warm"], stdin=True)
    server.close()
    assert server.proc.returncode == 0
    deadline = time.monotonic() + 10
    while _alive(judge.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(judge.pid)


def test_a_dead_server_fails_over_to_cold_judges(server: ForkServer) -> None:
    running = server.spawn(["--warm"], stdin=True)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    deadline = time.monotonic() + 10
    while not server.dead and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.dead
    with pytest.raises(ForkServerError):
        server.spawn(["--warm"])
    cold = start_judge(["too", "many"], server)  # the cold way: a new interpreter, our own child
    assert isinstance(cold, subprocess.Popen)
    assert cold.communicate(timeout=60)[0].startswith(b"usage:")
    running.kill()  # orphaned when its server died: still killed whole, its end still seen
    assert running.wait(timeout=10) == -1


def test_a_process_forked_from_the_client_leaves_its_server_alone(server: ForkServer) -> None:
    # A child forked from the client (a pool worker, say) inherits the handle; its exit handlers close it.
    child = os.fork()
    if child == 0:
        server.close()
        os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    judge = server.spawn(["too", "many"])  # the server is still there, and still ours
    assert judge.communicate(timeout=30)[0].startswith(b"usage:") and not server.dead


# The judges' own state, job after job: a hidden test that leaves things in its judge process and
# records what it finds there (and which process it ran in) for the test to compare.
HIDDEN = """\
import json, os, random, sys
import numpy as np


def test_judge_state():
    found = [n for n in ("judge_left",) if n in sys.modules] + (["numpy"] if hasattr(np, "judge_left") else [])
    sys.modules["judge_left"] = type(sys)("judge_left")
    np.judge_left = True
    record = {"pid": os.getpid(), "ppid": os.getppid(), "found": found,
              "numpy": np.random.random(), "random": random.random()}
    with open(os.path.join(os.environ["JUDGE_STATE_LOG"], f"{os.getpid()}.json"), "w") as f:
        json.dump(record, f)
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_forked_judges_share_no_state_and_draw_their_own_random_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log"
    log.mkdir()
    hidden = tmp_path / "cw" / "hidden"
    hidden.mkdir(parents=True)
    (hidden / "test_state.py").write_text(HIDDEN)
    rubric = make_rubric(
        total_points=1,
        parts=[{"id": "1", "title": "State", "points": 1}],
        items=[
            {"id": "s", "part": "1", "points": 1, "title": "S", "auto": {"tests": ["test_state.py::test_judge_state"]}}
        ],
        penalties=[],
    )
    cw = CourseworkFiles(rubric=rubric, folder=hidden.parent, hidden=hidden)
    notebook = tmp_path / "cwx.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent("x = 1"))]), notebook)
    settings = get_settings().model_copy(update={"fork_servers": True})
    with WarmJudges(settings, size=1) as judges:
        server = judges._server
        assert server is not None and server.wait_ready()
        # Set after the template started: a judge gets the environment of its request, as a new process would.
        monkeypatch.setenv("JUDGE_STATE_LOG", str(log))
        for _ in range(3):  # the first cold (no unit yet), then warm units: all forked
            assert grade_submission(notebook, cw, settings, judge=judges).status == "graded"
        records = [json.loads(p.read_text()) for p in log.iterdir()]
        assert {r["ppid"] for r in records} == {server.proc.pid}
    assert len({r["pid"] for r in records}) == 3
    assert [r["found"] for r in records] == [[], [], []]
    assert len({r["numpy"] for r in records}) == 3, "forked judges drew the same numbers: not reseeded"
    assert len({r["random"] for r in records}) == 3
