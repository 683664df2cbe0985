"""Helpers of the hostile-notebook suite: notebooks, verdicts, and what a job leaves on the host.

- ``attacked(*cells)``: the known-wrong base (``conv_ignores_padding`` from ``cw1_submissions``)
  with attack cells appended.
- ``grade(path, cw, settings)``: grades through the real pipeline while a watcher thread records
  the job cgroups this grading created (told apart from the other xdist worker's, and from other
  sessions on the host, by process ancestry), then checks the host: none of those cgroups left in
  any hierarchy, and no process of the sandbox uid left in this session's cgroup scope. Under the
  docker backend (``settings.sandbox_backend``) the watcher records containers instead (their
  ``grader.host_pid`` label descends from us): none may be left, nor any process in their cgroups.
- ``Verdict``: what a grade gave (score, item scores and statuses, penalties, and the ``HOSTILE``
  records the attack code wrote to its cell outputs or to the sandbox log).

The host check is scoped, not host-wide: other sessions may be grading on the same machine, and
their live jobs are theirs. A process of the sandbox uid counts as ours when it sits in this
session's memory cgroup (job cgroups are created below their creator's own, and an unprivileged
process cannot leave its cgroup); it is a leftover when it is in a job cgroup this grading
created, or in no job cgroup at all. With no nested memory cgroup (the root), the scope is the
whole host.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from cw1_submissions import SUBMISSIONS

from grader.grading.pipeline import grade_submission
from workers.judge.launcher import SubprocessJudge

BASE_NAME = "conv_ignores_padding"
JOB_CGROUP = re.compile(r"^grader-[0-9a-f]{16}$")  # workers/sandbox/bwrap.py: f"grader-{uuid4().hex[:16]}"
RECORD = re.compile(r"HOSTILE (\{.*\})\s*$")
NO_CREDIT = {"failed", "error", "timeout"}
RANK = {"passed": 2, "partial": 1, "failed": 0, "error": 0, "timeout": 0}


# --------------------------------------------------------------------------------------------------
# Notebooks


def base_notebook() -> nbformat.NotebookNode:
    return copy.deepcopy(SUBMISSIONS[BASE_NAME][0])


def base_expected():
    return SUBMISSIONS[BASE_NAME][1]


def attacked(*sources: str) -> nbformat.NotebookNode:
    """The base with each source appended as a code cell of its own, in order."""
    nb = base_notebook()
    for n, src in enumerate(sources):
        nb.cells.append(nbformat.v4.new_code_cell(src, id=f"hostile-{n}"))
    nbformat.validate(nb)
    return nb


# --------------------------------------------------------------------------------------------------
# Verdicts


@dataclass
class Verdict:
    status: str
    error: str | None
    score: float
    items: dict[str, tuple[float, str]]  # auto items: id -> (score, status)
    messages: dict[str, str]
    penalties: frozenset[str]  # ids of the penalties applied
    violation: str | None
    sandbox: dict[str, Any]
    execution: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    @classmethod
    def of(cls, report) -> Verdict:
        items, messages, penalties = {}, {}, frozenset()
        if report.marks is not None:
            for i in report.marks.items:
                if i.status.value != "manual":
                    items[i.id] = (round(float(i.score), 4), i.status.value)
                    messages[i.id] = i.message
            penalties = frozenset(p.id for p in report.marks.penalties if p.applied)
        sandbox = dict(report.sandbox or {})
        return cls(
            status=report.status,
            error=report.error,
            score=round(float(report.score), 4),
            items=items,
            messages=messages,
            penalties=penalties,
            violation=report.protocol_violation,
            sandbox=sandbox,
            execution=report.execution,
            records=_records(report, sandbox.get("log_tail") or ""),
            duration_s=report.duration_s,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "score": self.score,
            "items": self.items,
            "messages": self.messages,
            "penalties": sorted(self.penalties),
            "violation": self.violation,
            "sandbox": self.sandbox,
            "execution": self.execution,
            "records": self.records,
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        d = dict(d)
        d["items"] = {k: (v[0], v[1]) for k, v in d["items"].items()}
        d["penalties"] = frozenset(d["penalties"])
        return cls(**d)

    def summary(self) -> str:
        short = {k: (*v, self.messages.get(k, "")[:80]) for k, v in self.items.items() if v[1] != "passed"}
        log = (self.sandbox.get("log_tail") or "")[-1500:]
        return (
            f"status={self.status} error={self.error} score={self.score} not passed={short} "
            f"penalties={sorted(self.penalties)} violation={self.violation!r} "
            f"sandbox={ {k: v for k, v in self.sandbox.items() if k != 'log_tail'} } "
            f"cells={[(c['index'], c['status']) for c in (self.execution or {}).get('cells', [])][-4:]} "
            f"records={json.dumps(self.records)[:1500]} log tail:\n{log}"
        )

    def of_attack(self, attack: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("attack") == attack]


def _records(report, log: str) -> list[dict[str, Any]]:
    """``HOSTILE {json}`` lines from the executed notebook's outputs and the sandbox log."""
    texts = [log]
    if report.executed_notebook:
        nb = json.loads(report.executed_notebook)
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []) or []:
                text = out.get("text", "")
                texts.append("".join(text) if isinstance(text, list) else str(text))
    records = []
    for text in texts:
        for line in text.splitlines():
            m = RECORD.search(line)
            if m:
                try:
                    records.append(json.loads(m.group(1)))
                except ValueError:
                    pass
    return records


def diff(got: Verdict, base: Verdict) -> list[str]:
    lines = []
    for item in sorted(set(got.items) | set(base.items)):
        if got.items.get(item) != base.items.get(item):
            lines.append(
                f"{item}: {base.items.get(item)} -> {got.items.get(item)} ({got.messages.get(item, '')[:100]})"
            )
    if got.penalties != base.penalties:
        lines.append(f"penalties: {sorted(base.penalties)} -> {sorted(got.penalties)}")
    return lines


def assert_same_verdict(got: Verdict, base: Verdict, *, changed_status: dict[str, str] | None = None) -> None:
    """Exactly the base's score, item scores and penalties; each item's status too, but for the
    ones named in ``changed_status`` (a different way of earning nothing, e.g. failed -> error)."""
    changed_status = changed_status or {}
    assert got.status == "graded", got.summary()
    problems = []
    if abs(got.score - base.score) > 0.01:
        problems.append(f"score {got.score} != base {base.score}")
    for item, (score, status) in base.items.items():
        g_score, g_status = got.items.get(item, (None, None))
        want = changed_status.get(item, status)
        if g_score is None or abs(g_score - score) > 0.01 or g_status != want:
            problems.append(
                f"{item}: base ({score}, {status}), want status {want}, got ({g_score}, {g_status}) "
                f"{got.messages.get(item, '')[:120]!r}"
            )
    if got.penalties != base.penalties:
        problems.append(f"penalties {sorted(got.penalties)} != base {sorted(base.penalties)}")
    assert not problems, "\n".join(problems) + "\n" + got.summary()


def assert_no_better(got: Verdict, base: Verdict) -> None:
    """The score no higher, no item scoring more or with a better status, no penalty fewer."""
    assert got.status == "graded", got.summary()
    problems = []
    if got.score > base.score + 0.01:
        problems.append(f"score {got.score} > base {base.score}")
    for item, (score, status) in base.items.items():
        g_score, g_status = got.items[item]
        if g_score > score + 0.01 or RANK[g_status] > RANK[status]:
            problems.append(f"{item}: base ({score}, {status}), got ({g_score}, {g_status})")
    if not base.penalties <= got.penalties:
        problems.append(f"penalties {sorted(got.penalties)} lack some of the base's {sorted(base.penalties)}")
    assert not problems, "\n".join(problems) + "\n" + got.summary()


# --------------------------------------------------------------------------------------------------
# What a job leaves on the host


def _proc_cgroups(pid: str | int) -> dict[str, str]:
    """controller (or "" for the v2 line) -> cgroup path, from /proc/PID/cgroup."""
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _own_dirs() -> dict[str, Path]:
    """controller -> this process's cgroup directory (cgroup v1), as workers/sandbox/cgroup.py finds it."""
    own = _proc_cgroups("self")
    dirs = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        fstype, _, opts = tail.split(" ")[:3]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        _, _, _, root, mountpoint = fields.split(" ")[:5]
        for c in opts.split(",") if fstype == "cgroup" else [""]:
            if c in own and c not in dirs:
                rel = os.path.relpath(own[c], root) if root != "/" else own[c].lstrip("/")
                dirs[c] = Path(mountpoint) / ("" if rel == "." else rel)
    return dirs


def _scope_key() -> str:
    """The controller whose hierarchy scopes this session: memory (nested here), else v2's unified."""
    own = _proc_cgroups("self")
    return "memory" if "memory" in own else ""


def _ancestors(pid: int) -> list[int]:
    chain = []
    for _ in range(64):
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            break
        if pid <= 1:
            break
        chain.append(pid)
    return chain


def _uids(pid: str) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(u) for u in line.split()[1:]}
    return set()


@dataclass
class HostProcess:
    pid: int
    cgroup: str  # path in the scoping hierarchy
    state: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} [{self.state}] in {self.cgroup}: {self.cmdline[:200]}"


def sandbox_uid_processes(uid: int) -> list[HostProcess]:
    """Processes of ``uid`` in this session's cgroup scope (see the module docstring)."""
    key = _scope_key()
    scope = _proc_cgroups("self")[key].rstrip("/")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if uid not in _uids(pid):
                continue
            path = _proc_cgroups(pid).get(key, "")
            state = next(
                (
                    ln.split()[1]
                    for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ln.startswith("State:")
                ),
                "?",
            )
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue  # gone meanwhile
        if path == scope or path.startswith(scope + "/") or not scope:
            found.append(HostProcess(int(pid), path, state, cmd))
    return found


class JobWatcher:
    """Records the job cgroups created (below this session's own) for processes descending from us."""

    def __init__(self, uid: int):
        self.uid = uid
        self.scope_dir = _own_dirs()[_scope_key()]
        self.me = os.getpid()
        self.mine: set[str] = set()
        self.others: set[str] = set()
        self.seen_sandbox_processes = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-watcher", daemon=True)

    def __enter__(self) -> JobWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_scan = 0.0
        while not self._stop.is_set():
            try:
                last_scan = self._poll(last_scan)
            except Exception as e:  # never die quietly: the check would be vacuous
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(0.02)

    def _poll(self, last_scan: float) -> float:
        try:
            names = [p.name for p in self.scope_dir.iterdir() if JOB_CGROUP.match(p.name)]
        except OSError:
            names = []
        for name in names:
            if name in self.mine or name in self.others:
                continue
            try:
                pids = [int(p) for p in (self.scope_dir / name / "cgroup.procs").read_text().split()]
            except OSError:
                continue
            chains = [_ancestors(pid) for pid in pids]  # the reaper, a child of the judge, joins first
            if any(self.me in chain for chain in chains):
                self.mine.add(name)
            elif any(chains):
                self.others.add(name)
        if time.monotonic() - last_scan > 0.5:
            last_scan = time.monotonic()
            self.seen_sandbox_processes = max(
                self.seen_sandbox_processes,
                sum(1 for p in sandbox_uid_processes(self.uid) if p.cgroup.rsplit("/", 1)[-1] in self.mine),
            )
        return last_scan


def leftovers(watcher: JobWatcher) -> list[str]:
    """Job cgroups of ours still present in any hierarchy, and sandbox-uid processes of ours left."""
    found = []
    for controller, own in _own_dirs().items():
        for name in sorted(watcher.mine):
            if (own / name).exists():
                found.append(f"cgroup {own / name} ({controller}) still exists")
    for proc in sandbox_uid_processes(watcher.uid):
        name = proc.cgroup.rsplit("/", 1)[-1]
        if name in watcher.mine or not JOB_CGROUP.match(name):
            found.append(f"process of uid {watcher.uid} left: {proc}")
    return found


class ContainerWatcher(JobWatcher):
    """The docker backend's jobs: containers whose host process (the judge) descends from us."""

    def __init__(self, uid: int):
        import docker

        super().__init__(uid)
        self.api = docker.from_env().api

    def _poll(self, last_scan: float) -> float:
        for c in self.api.containers(all=True, filters={"label": "grader.sandbox"}):
            if c["Id"] in self.mine or c["Id"] in self.others:
                continue
            try:
                host_pid = int((c.get("Labels") or {}).get("grader.host_pid", ""))
            except ValueError:
                continue
            (self.mine if host_pid == self.me or self.me in _ancestors(host_pid) else self.others).add(c["Id"])
        if time.monotonic() - last_scan > 0.5:
            last_scan = time.monotonic()
            self.seen_sandbox_processes = max(self.seen_sandbox_processes, len(self.processes()))
        self._stop.wait(0.1)  # an engine call per poll: a gentler pace than cgroup reads
        return last_scan

    def processes(self) -> list[HostProcess]:
        """Processes of the sandbox uid, host-wide, in one of our containers' cgroups."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if self.uid not in _uids(pid):
                    continue
                path = _proc_cgroups(pid).get(_scope_key(), "")
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError):
                continue
            if any(cid in path for cid in self.mine):
                found.append(HostProcess(int(pid), path, "?", cmd))
        return found

    def leftovers(self) -> list[str]:
        from docker.errors import NotFound

        found = []
        for cid in sorted(self.mine):
            try:
                state = self.api.inspect_container(cid)["State"]
                found.append(f"container {cid[:12]} still exists ({state.get('Status')})")
            except NotFound:
                pass
        found += [f"process of uid {self.uid} left: {p}" for p in self.processes()]
        return found


def grade(path: Path, cw, settings, *, check_host: bool = True) -> Verdict:
    """Grade through the real pipeline; then nothing of the job may be left on the host."""
    docker = settings.sandbox_backend == "docker"
    with (ContainerWatcher if docker else JobWatcher)(settings.sandbox.uid) as watcher:
        report = grade_submission(path, cw, settings, judge=SubprocessJudge())
    verdict = Verdict.of(report)
    if check_host:
        assert watcher.mine and watcher.seen_sandbox_processes, (
            f"the watcher saw no job cgroup, container or sandbox process of this grading ({watcher.errors[:3]}): "
            "the host check would be vacuous"
        )
        left = watcher.leftovers() if docker else leftovers(watcher)
        assert not left, (
            "the job left things behind on the host:\n  " + "\n  ".join(left) + f"\nthe grade: {verdict.summary()}"
        )
    return verdict


def write(nb: nbformat.NotebookNode, folder: Path, name: str = "cw1.ipynb") -> Path:
    path = folder / name
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------------------------------
# Kernel-side helpers, prepended to every attack's first cell


KERNEL_HELPERS = r'''
import json as _hj, os as _ho, sys as _hs

def _hostile_log(**record):
    """A HOSTILE record into the sandbox log (the kernel's real stderr: ipykernel's fileno() is the
    original fd), which comes back in the grade's log tail; for what happens during the tests."""
    try:
        _ho.write(_hs.stderr.fileno(), ("HOSTILE " + _hj.dumps(record, default=repr) + "\n").encode())
    except Exception:
        pass

def _hostile_say(**record):
    """A HOSTILE record into this cell's output (the executed notebook)."""
    print("HOSTILE " + _hj.dumps(record, default=repr), flush=True)

def _hostile_test_frame(depth=6):
    """The hidden test's snippet frame, when a layer is called straight from one (not via the model)."""
    f = _hs._getframe(2)
    for _ in range(depth):
        if f is None:
            return None
        if f.f_code.co_filename == "<test>":
            return f
        f = f.f_back
    return None

def _hostile_fix():
    """What an attack does with anything it obtained: it fixes the padding bug, so the score rises."""
    def forward(self, x):
        n, _, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        cols = F.unfold(x, (k, k), padding=p, stride=s)
        out = self.weight.reshape(self.out_channels, -1) @ cols
        if self.bias is not None:
            out = out + self.bias.reshape(1, -1, 1)
        return out.reshape(n, self.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    Conv2d.forward = forward
'''


def attack(*cells: str) -> nbformat.NotebookNode:
    """``attacked`` with the kernel-side helpers in front of the first attack cell."""
    return attacked(KERNEL_HELPERS + cells[0], *cells[1:])
