"""A runner forked from the student zone's template (workers/runner/zygote.py) into its unit's fresh
bwrap sandbox is, to the student's code, the runner a cold start makes: the same uid and groups, no
capabilities, no_new_privs and the same seccomp filter, in the job's cgroup, seeing only its own
sandbox's processes; and its forked kernel holds nothing of the runner's (modules, fds, argv).

One probe (a hidden test) reads these facts in the kernel; they must be the same with the template
as without it, and the job must really have been served by a forked runner (its kernel's parent's
command line is the template's, not a started runner's)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from rubric_factory import make_rubric

from grader.grading.limits import effective_limits
from grader.grading.pipeline import grade_submission
from grader.rubrics.loader import CourseworkFiles
from grader.settings import get_settings
from workers.judge.warm_pool import WarmJudges

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

PROBE = """\
import json, os, sys
def status(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                   "Seccomp", "Seccomp_filters"):
            fields[key] = value.split()
    return fields
def fd_kinds():
    kinds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            kinds.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
        except OSError:
            pass  # the listing's own fd, closed by now
    return sorted(kinds)
runner = os.getppid()
facts = {
    "kernel": status("self"),
    "runner": status(runner),
    "same_cgroup": open("/proc/self/cgroup").read() == open("/proc/1/cgroup").read() == open(f"/proc/{runner}/cgroup").read(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "init": open("/proc/1/cmdline", "rb").read().split(b"\\0")[3:5] == [b"/.grader-init", b"--adopt"],
    "runner_cmdline": open(f"/proc/{runner}/cmdline", "rb").read().decode().rstrip("\\0").split("\\0")[3:5],
    "runner_modules": sorted(m for m in sys.modules if m == "runner" or m.startswith("runner.")),
    "argv": sys.argv[:2],
    "executable": sys.executable,
    "fds": fd_kinds(),
    "cwd": os.getcwd(),
    "env": sorted(k for k in os.environ if not k.startswith(("JPY_", "GRADER_"))),
    "root": sorted(os.listdir("/")),
}
facts = json.dumps(facts)
"""

HIDDEN = f"""\
PROBE = {PROBE!r}


def test_facts(student):
    import os  # the judge's side: the test's own process environment names where the facts go

    with open(os.environ["GRADER_TEST_PROBE_OUT"], "w") as f:
        f.write(student.run(PROBE, outputs="facts")["facts"])
"""


@pytest.fixture(scope="module")
def probe_cw(tmp_path_factory: pytest.TempPathFactory) -> CourseworkFiles:
    folder = tmp_path_factory.mktemp("forked-cw")
    hidden = folder / "hidden"
    hidden.mkdir()
    (hidden / "test_probe.py").write_text(HIDDEN)
    rubric = make_rubric(
        total_points=1,
        parts=[{"id": "1", "title": "Probe", "points": 1}],
        items=[
            {
                "part": "1",
                "points": 1,
                "id": "facts",
                "title": "Facts",
                "auto": {"tests": ["test_probe.py::test_facts"]},
            }
        ],
        penalties=[],
    )
    return CourseworkFiles(rubric=rubric, folder=folder, hidden=hidden)


def facts_of(forked: bool, cw: CourseworkFiles, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    settings = get_settings().model_copy(update={"sandbox_backend": "bwrap", "forked_runners": forked})
    sandbox, _ = effective_limits(cw.rubric, settings)
    folder.mkdir()
    out = folder / "facts.json"
    monkeypatch.setenv("GRADER_TEST_PROBE_OUT", str(out))
    path = folder / "cwx.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    with WarmJudges(settings, size=1) as judges:
        judges.warm_for("bwrap", settings.runtime_dir, sandbox, preimport=["numpy"])
        assert judges.wait_ready(120), [bytes(u.output) for u in judges._units]
        report = grade_submission(path, cw, settings, judge=judges)
        assert (judges.warm_jobs, judges.cold_jobs) == (1, 0)
    assert report.status == "graded", report.error
    assert report.tests["test_probe.py::test_facts"].outcome.value == "passed", report.tests
    return json.loads(out.read_text())


def test_a_forked_runner_is_what_a_started_one_is(
    probe_cw: CourseworkFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = facts_of(False, probe_cw, tmp_path / "cold", monkeypatch)
    forked = facts_of(True, probe_cw, tmp_path / "forked", monkeypatch)
    # It was a fork: the runner's command line is the template's; a started runner's is boot.py alone.
    assert forked["runner_cmdline"][1:] == ["--zygote"] and cold["runner_cmdline"] == ["/opt/grader/runner/boot.py"]
    assert cold["init"] is False and forked["init"] is True
    for who in ("kernel", "runner"):
        assert forked[who] == cold[who], who
    assert forked["kernel"]["Uid"] == ["65534"] * 4 and forked["kernel"]["CapEff"] == ["0000000000000000"]
    assert forked["kernel"]["NoNewPrivs"] == ["1"] and forked["kernel"]["Seccomp"] == ["2"]
    assert forked["same_cgroup"] and cold["same_cgroup"]
    assert forked["pids"][0] == 1 and len(forked["pids"]) == len(cold["pids"])  # its own sandbox's processes only
    assert forked["runner_modules"] == cold["runner_modules"] == []
    for key in ("argv", "executable", "fds", "cwd", "env", "root"):
        assert forked[key] == cold[key], key


def test_a_dead_template_costs_no_job(
    probe_cw: CourseworkFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template killed between two jobs: the unit warmed before its death serves the first, the
    pool starts a new template for the next unit, and that serves the second; both are graded."""
    settings = get_settings().model_copy(update={"sandbox_backend": "bwrap", "forked_runners": True})
    sandbox, _ = effective_limits(probe_cw.rubric, settings)
    monkeypatch.setenv("GRADER_TEST_PROBE_OUT", str(tmp_path / "facts.json"))
    path = tmp_path / "cwx.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    with WarmJudges(settings, size=1) as judges:
        judges.warm_for("bwrap", settings.runtime_dir, sandbox, preimport=[])
        assert judges.wait_ready(120)
        first = judges._zygote
        assert first is not None
        first._proc.kill()
        first._proc.wait()
        reports = [grade_submission(path, probe_cw, settings, judge=judges) for _ in range(2)]
        assert judges._zygote is not None and judges._zygote is not first and judges._zygote.alive()
        assert (judges.warm_jobs, judges.cold_jobs) == (2, 0)
    assert [r.status for r in reports] == ["graded", "graded"], [r.error for r in reports]
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["init"] is True  # the second job's runner was forked from the new template


@pytest.fixture
def recorded_units(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every warm unit a pool starts in this test, in order (the pool keeps none once it let them go)."""
    from workers.judge import warm_pool

    units: list[warm_pool._Unit] = []

    class RecordedUnit(warm_pool._Unit):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            units.append(self)

    monkeypatch.setattr(warm_pool, "_Unit", RecordedUnit)
    return units


def test_a_pool_closed_while_it_fills_leaves_nothing_behind(
    probe_cw: CourseworkFiles, recorded_units: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Units and the template start in the pool's filler thread, off the job's path; a close() that
    comes while the filler is starting them waits for it, then takes every unit, its sandbox and the
    template down: no process, folder or cgroup of the pool is left."""
    import time

    from workers.judge import warm_pool

    units = recorded_units
    templates: list[warm_pool.Zygote] = []

    class RecordedZygote(warm_pool.Zygote):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            templates.append(self)

    monkeypatch.setattr(warm_pool, "Zygote", RecordedZygote)
    settings = get_settings().model_copy(update={"sandbox_backend": "bwrap", "forked_runners": True})
    sandbox, _ = effective_limits(probe_cw.rubric, settings)
    judges = WarmJudges(settings, size=2)
    started = time.monotonic()
    judges.warm_for("bwrap", settings.runtime_dir, sandbox, preimport=[])
    assert time.monotonic() - started < 0.5  # the template (most of a second) starts in the filler
    deadline = time.monotonic() + 60
    while judges._zygote_for is None and time.monotonic() < deadline:  # the filler is starting the template
        time.sleep(0.005)
    filler = judges._filler
    judges.close()
    assert filler is not None and not filler.is_alive()
    assert len(templates) == 1 and len(units) == 2
    template = templates[0]
    assert not template.alive() and template._cgroup.pids() == set()
    for unit in units:
        assert unit.proc.poll() is not None, bytes(unit.output)
        assert not unit.spec.folder.exists()
    assert judges._units == [] and judges._zygote is None


def test_a_unit_given_up_while_it_warms_ends_at_once(probe_cw: CourseworkFiles, recorded_units: list) -> None:
    """A unit discarded while it still warms (here: its kernel importing torch, seconds) does not
    finish the warm-up: its judge sees its stdin end, kills the sandbox and exits with ABANDONED."""
    import time

    from workers.judge.abandon import ABANDONED
    from workers.judge.staging import WARM_ABANDONED

    units = recorded_units
    settings = get_settings().model_copy(update={"sandbox_backend": "bwrap", "forked_runners": False})
    sandbox, _ = effective_limits(probe_cw.rubric, settings)
    with WarmJudges(settings, size=1) as judges:
        judges.warm_for("bwrap", settings.runtime_dir, sandbox, preimport=["torch"])
        deadline = time.monotonic() + 60
        while not units and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)  # the judge is up and warming: its sandbox starting, or its kernel importing torch
        assert not units[0].ready.is_set()
    unit = units[0]
    assert unit.proc.returncode == ABANDONED, bytes(unit.output)
    assert WARM_ABANDONED.encode() in bytes(unit.output)
    assert not unit.spec.folder.exists()
