"""Warm judges: a ``JudgeLauncher`` that keeps judges started ahead of their jobs, one job each.

A warm unit is a judge process (``python -m workers.judge --warm``) that has imported pytest and
the grader, started its job's sandbox, and in it the runner and the kernel, which has imported
the slow modules (numpy, torch) the last job's notebook imported (``JudgeJob.imports``); it then
waits for a job file's path on its stdin. It serves that one job and exits, its sandbox killed, as
a cold judge does: nothing of one job is left for the next. While a job runs the pool starts the
next unit, so the interpreter starts and imports happen off the job's path (their CPU is still
spent: see bench/throughput.py).

Units are keyed by what their sandbox was made with (backend, runtime, limits: ``warm_key``). A job
whose key differs from the pool's units gets a cold judge, and the pool warms for the new key from
then on; so does a gpu job (its device is chosen per job), and any job when a unit's warm-up failed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from grader.grading.errors import InfrastructureError
from grader.grading.job import Job, create_job_folder
from grader.grading.job_schema import JudgeJob, JudgeResult, WarmUnit, job_warm_key, read_result
from grader.processes.forkserver import ForkServer
from grader.settings import SandboxLimits, Settings
from workers.runner import THREAD_ENV
from workers.runner.main import PREIMPORT_ALLOWED
from workers.sandbox.base import SandboxError
from workers.sandbox.zygote import Zygote

from .launcher import OUTPUT_TAIL_CHARS, SubprocessJudge, judge_fork_server, start_judge
from .staging import RUNNER_ENV, WARM_FAILED, WARM_READY, stage_runner

log = logging.getLogger(__name__)

IDLE_S = 1800.0  # a unit waits this long for a job, then exits (the pool starts a fresh one)
WARM_UP_TIMEOUT_S = 300.0  # a job waits this long for a unit still warming before it goes cold
DISCARD_GRACE_S = 30.0  # a discarded unit's judge kills its sandbox and exits; after this it is killed


class _Unit:
    """One warm judge process, from its start to its exit."""

    def __init__(self, unit: WarmUnit, server: ForkServer | None):
        self.spec = unit
        self.proc = start_judge(["--warm"], server, stdin=True)  # a process group of its own: killed whole
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are pipes
        self.proc.stdin.write(unit.model_dump_json().encode() + b"\n")
        self.proc.stdin.flush()
        self.ready = threading.Event()
        self.warm = False  # set with ready: True once it said WARM_READY
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, name="warm-judge-out", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.ready.is_set():
                self.warm = line.decode("utf-8", "replace").strip() == WARM_READY
                if self.warm or line.startswith(WARM_FAILED.encode()):
                    self.ready.set()
            self.output += line
            del self.output[: max(0, len(self.output) - OUTPUT_TAIL_CHARS * 4)]
        self.ready.set()  # end of output: it will never be warm

    def usable(self, key: str) -> bool:
        return self.spec.key == key and self.proc.poll() is None

    def run(self, job: Job, timeout_s: float) -> JudgeResult:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{job.job_file}\n".encode())
            self.proc.stdin.close()
        except OSError:
            pass  # it died meanwhile: no result, reported below
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise InfrastructureError(f"the judge did not finish within {timeout_s:.0f}s") from None
        finally:
            self._reader.join(timeout=10)
            self.remove_folder()
        if not job.result_path.is_file():
            tail = self.output.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:]
            raise InfrastructureError(f"the judge exited with {self.proc.returncode} and wrote no result: {tail}")
        return read_result(job.result_path)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def discard(self) -> None:
        """End of its stdin: the judge kills its sandbox and exits (killed whole if it does not)."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=DISCARD_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(timeout=10)
        self.remove_folder()

    def remove_folder(self) -> None:
        shutil.rmtree(self.spec.folder, ignore_errors=True)


class WarmJudges:
    """A ``JudgeLauncher`` keeping ``size`` warm judges (default ``settings.warm_judges``; 0: every job cold).

    Use it as a context manager (or call ``close()``): the units left are discarded on exit.
    """

    def __init__(self, settings: Settings, size: int | None = None, *, idle_s: float = IDLE_S):
        self.settings = settings
        self.size = settings.warm_judges if size is None else size
        self.idle_s = idle_s
        # The judges (warm units and cold ones alike) are forked from one template: the judge's own
        # imports are paid once per pool, not once per job (grader.processes.forkserver).
        self._server = judge_fork_server() if settings.fork_servers and self.size > 0 else None
        self._cold = SubprocessJudge(self._server)
        self._units: list[_Unit] = []
        self._lock = threading.Lock()
        self._template: WarmUnit | None = None  # what the next units are made for: the last job's sandbox
        # bwrap units' runners are forked from a template of the student zone, one for the units' runtime
        # and pre-imports (workers/sandbox/zygote.py); None: they start cold in their sandboxes.
        self._zygote: Zygote | None = None
        self._zygote_for: tuple[str, ...] | None = None
        self._zygote_folder: Path | None = None
        self._retired: list[tuple[Zygote, Path]] = []  # units may still be joining from them: closed at close()
        # Units are started by the pool's filler thread, off the job's path (a template's start takes
        # most of a second). One thread for the pool's life: the template dies with the thread that
        # started it (its reaper's parent-death signal), so that thread must outlive it.
        self._filler: threading.Thread | None = None
        self._refill_wanted = self._closing = False
        self._changed = threading.Condition(self._lock)
        self.warm_jobs = self.cold_jobs = 0  # counts, for benchmarks and tests

    def __enter__(self) -> WarmJudges:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def warm_for(
        self, backend: str, runtime_dir: Path, limits: SandboxLimits, preimport: Sequence[str] = ("numpy", "torch")
    ) -> None:
        """Start warming units for jobs of this sandbox now, before the first job (which is else cold)."""
        with self._lock:
            self._template = WarmUnit(
                backend=backend,
                runtime_dir=runtime_dir,
                limits=limits,
                folder=Path("/nonexistent"),
                idle_s=self.idle_s,
                preimport=list(preimport),
            )
        self._refill()

    def wait_ready(self, timeout_s: float = WARM_UP_TIMEOUT_S) -> bool:
        """Wait until every unit has warmed up (or failed to); True if all are warm (benchmarks, tests)."""
        with self._lock:  # the refill asked for before now is done (it holds the lock while it fills)
            self._changed.wait_for(lambda: not self._refill_wanted or self._filler is None, timeout_s)
            units = list(self._units)
        return all(u.ready.wait(timeout_s) and u.warm for u in units)

    def run(self, job: Job, timeout_s: float) -> JudgeResult:
        try:
            spec = JudgeJob.model_validate_json(job.job_file.read_bytes())
        except (OSError, ValueError):
            spec = None  # the cold judge reports the bad job file as it always did
        key = job_warm_key(spec) if spec is not None and self.size > 0 else None
        if key is None or spec is None:
            self.cold_jobs += 1
            return self._cold.run(job, timeout_s)
        unit = self._take(key, spec)
        if unit is None:
            self.cold_jobs += 1
            return self._cold.run(job, timeout_s)
        self.warm_jobs += 1
        return unit.run(job, timeout_s)

    def _take(self, key: str, job: JudgeJob) -> _Unit | None:
        """A warm unit for ``key`` (waiting for one still warming), after starting its replacement."""
        with self._lock:
            # A refill asked for (warm_for, or the last job) and not yet begun: its units are the next.
            self._changed.wait_for(lambda: self._units or not self._refill_wanted or self._closing, WARM_UP_TIMEOUT_S)
            stale = [u for u in self._units if not u.usable(key)]
            self._units = [u for u in self._units if u.usable(key)]
            unit = self._units.pop(0) if self._units else None
            if self._template is None or self._template.key != key or self._template.preimport != job.imports:
                self._template = WarmUnit(  # the next units are made for jobs like this one
                    backend=job.backend,
                    runtime_dir=job.runtime_dir,
                    limits=job.limits,
                    folder=Path("/nonexistent"),  # each unit gets a folder of its own (_fill)
                    idle_s=self.idle_s,
                    preimport=job.imports,
                )
        self._refill()
        for old in stale:  # off the job's path: a thread each
            threading.Thread(target=old.discard, name="warm-judge-discard", daemon=True).start()
        if unit is None:
            return None
        unit.ready.wait(WARM_UP_TIMEOUT_S)
        if unit.warm and unit.proc.poll() is None:
            return unit
        threading.Thread(target=unit.discard, name="warm-judge-discard", daemon=True).start()
        return None

    def _refill(self) -> None:
        """Bring the pool back to ``size`` units of the current template, in the filler thread."""
        with self._lock:
            if self._closing:
                return
            self._refill_wanted = True
            if self._filler is None:
                self._filler = threading.Thread(target=self._fill_loop, name="warm-judge-fill", daemon=True)
                self._filler.start()
            self._changed.notify_all()

    def _fill_loop(self) -> None:
        with self._lock:
            while True:
                self._changed.wait_for(lambda: self._refill_wanted or self._closing)
                if self._closing:
                    return
                self._refill_wanted = False
                try:
                    self._fill()
                except Exception:  # a unit that cannot start: jobs go cold, as after a failed warm-up
                    log.exception("cannot start a warm judge")
                self._changed.notify_all()

    def _fill(self) -> None:
        if self._template is None:
            return
        zygote = self._zygote_path(self._template) if len(self._units) < self.size else None
        while len(self._units) < self.size:
            folder = create_job_folder(self.settings)
            unit = self._template.model_copy(update={"folder": folder, "zygote": zygote})
            self._units.append(_Unit(unit, self._server))

    def _zygote_path(self, template: WarmUnit) -> str | None:
        """The socket of the template for ``template``'s units (started, or restarted for a new
        runtime or new pre-imports, here); None where units start cold."""
        if not self.settings.forked_runners or template.backend != "bwrap":
            return None
        wanted = (str(template.runtime_dir), str(template.limits.uid), str(template.limits.gid), *template.preimport)
        if self._zygote is not None and self._zygote_for == wanted and self._zygote.alive():
            return self._zygote.path
        if self._zygote_for == wanted and self._zygote is None:
            return None  # it failed to start for these units: they start cold (logged once)
        if self._zygote is not None and self._zygote_folder is not None:
            self._retired.append((self._zygote, self._zygote_folder))
            self._zygote, self._zygote_folder = None, None
        self._zygote_for = wanted
        self._zygote_folder = create_job_folder(self.settings)
        try:
            stage_runner(self._zygote_folder / "runner")
            self._zygote = Zygote(
                template.runtime_dir,
                self._zygote_folder / "runner",
                {**RUNNER_ENV, **THREAD_ENV},
                template.limits,
                modules=[m for m in template.preimport if m in PREIMPORT_ALLOWED],
            )
        except (SandboxError, OSError) as e:
            shutil.rmtree(self._zygote_folder, ignore_errors=True)
            self._zygote_folder = None
            log.warning("the student zone's template did not start; warm units start their runners cold: %s", e)
            return None
        return self._zygote.path

    def _close_zygotes(self) -> None:
        if self._zygote is not None and self._zygote_folder is not None:
            self._retired.append((self._zygote, self._zygote_folder))
        self._zygote, self._zygote_folder = None, None
        for zygote, folder in self._retired:
            zygote.close()
            shutil.rmtree(folder, ignore_errors=True)
        self._retired = []

    def close(self) -> None:
        with self._lock:  # after any fill under way: the filler starts nothing more
            self.size, self._closing = 0, True
            self._changed.notify_all()
            filler, units, self._units = self._filler, self._units, []
        discards = [threading.Thread(target=u.discard, name="warm-judge-discard") for u in units]
        for thread in discards:  # side by side: each judge takes its sandbox down (about 0.1 s)
            thread.start()
        for thread in discards:
            thread.join()
        with self._lock:
            self._close_zygotes()
        if filler is not None:
            filler.join()
        if self._server is not None:
            self._server.close()
