"""Job cgroups: one per sandbox job, created below this process's own cgroup.

Below our own, so the job's accounting nests under ours and nothing it does escapes a limit
set above us. The cgroup, not the process tree, is what ``kill()`` uses: a setsid'd,
double-forked daemon leaves the tree but never the cgroup.

``create_job_cgroup`` detects cgroup v1 (controllers mounted one by one, as on the Debian 12 VMs
this was built on) or v2 (unified) at runtime. Only v1 is tested; v2 is kept small.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from pathlib import Path

from grader.settings import SandboxLimits

from .base import SandboxError

CFS_PERIOD_US = 100_000


def _read_counters(path: Path) -> dict[str, int]:
    """Parse a flat "key value" file (memory.oom_control, pids.events, memory.events)."""
    counters = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            counters[key] = int(value)
    return counters


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not predicate():
        if time.monotonic() > deadline:
            raise SandboxError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _rmdir(path: Path, timeout: float = 5.0) -> None:
    """rmdir a cgroup; EBUSY just after the last task exited is transient."""

    def gone() -> bool:
        try:
            path.rmdir()
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            return False
        return True

    wait_until(gone, timeout, f"{path} to be removable")


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _victims(pids: set[int], spare: int | None) -> set[int]:
    """Read while frozen: nothing can fork in between."""
    return pids - {spare} or pids


class JobCgroup(ABC):
    """A job's cgroup(s). A process joins by writing its pid to every file in ``procs_files``."""

    procs_files: list[Path]

    @abstractmethod
    def pids(self) -> set[int]:
        """Every process (tgid) in the job now."""

    @abstractmethod
    def kill(self, spare: int | None = None, timeout: float = 5.0) -> None:
        """SIGKILL every process of the job, forks racing the kill included; return once none
        is left but ``spare``.

        ``spare`` (the job's reaper) is spared when it has company, so that it reaps the rest
        and exits by itself, instead of leaving zombies for the host's init. Alone (it has not
        forked yet, or is done), it is killed too. Either way it is the caller's to reap.
        """

    @abstractmethod
    def oom_killed(self) -> bool: ...

    @abstractmethod
    def pids_limit_hit(self) -> bool: ...

    @abstractmethod
    def remove(self) -> None:
        """Remove the (empty) cgroup. Idempotent."""


# --- cgroup v1 -------------------------------------------------------------------------------


def _v1_own_dirs() -> dict[str, Path]:
    """controller -> this process's cgroup directory in that controller's hierarchy."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if c:
                own[c] = path
    dirs = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        fstype, _, super_opts = tail.split(" ")[:3]
        if fstype != "cgroup":
            continue
        _, _, _, root, mountpoint = fields.split(" ")[:5]
        for c in super_opts.split(","):
            if c in own:
                rel = os.path.relpath(own[c], root) if root != "/" else own[c].lstrip("/")
                dirs[c] = Path(mountpoint) / ("" if rel == "." else rel)
    return dirs


class CgroupV1(JobCgroup):
    CONTROLLERS = ("memory", "pids", "cpu", "freezer")

    def __init__(self, name: str, limits: SandboxLimits):
        own = _v1_own_dirs()
        missing = [c for c in self.CONTROLLERS if c not in own]
        if missing:
            raise SandboxError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        self.dirs = {c: own[c] / name for c in self.CONTROLLERS}
        # Controllers co-mounted (cpu,cpuacct) share one directory: join and remove it once.
        self._unique = list(dict.fromkeys(self.dirs.values()))
        self.procs_files = [d / "cgroup.procs" for d in self._unique]
        self._removed = False
        try:
            for d in self._unique:
                d.mkdir()
            self._set_limits(limits)
        except OSError as e:
            self.remove()
            raise SandboxError(f"cannot create job cgroup {name}: {e}") from e

    def _set_limits(self, limits: SandboxLimits) -> None:
        mem, pids, cpu = self.dirs["memory"], self.dirs["pids"], self.dirs["cpu"]
        limit = str(limits.memory_mb * 1024 * 1024)
        (mem / "memory.limit_in_bytes").write_text(limit)
        if (mem / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no escape into swap
            (mem / "memory.memsw.limit_in_bytes").write_text(limit)
        (pids / "pids.max").write_text(str(limits.pids))
        (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpus * CFS_PERIOD_US))))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            try:
                found.update(int(p) for p in f.read_text().split())
            except FileNotFoundError:
                pass
        return found

    def kill(self, spare: int | None = None, timeout: float = 5.0) -> None:
        state = self.dirs["freezer"] / "freezer.state"
        deadline = time.monotonic() + timeout
        # Passes until empty: under load a fork bomb may not be frozen in time, and a child forked
        # between reading cgroup.procs and the kill survives one pass.
        while True:
            # Frozen, nothing can fork between reading cgroup.procs and the kill.
            state.write_text("FROZEN")
            try:
                wait_until(lambda: state.read_text().strip() == "FROZEN", 1.0, "the freezer")
            except SandboxError:
                pass  # a task stuck in the kernel delays FROZEN; kill anyway, it dies on its way out
            _kill_all(_victims(self.pids(), spare))
            state.write_text("THAWED")  # SIGKILL is delivered once thawed
            left = deadline - time.monotonic()
            try:
                wait_until(lambda: not self.pids() - {spare}, min(1.0, max(left, 0.01)), "the job's processes to exit")
                return
            except SandboxError:
                if left <= 0:
                    raise

    def oom_killed(self) -> bool:
        mem = self.dirs["memory"]
        counters = _read_counters(mem / "memory.oom_control")
        if "oom_kill" in counters:  # kernel >= 4.13
            return counters["oom_kill"] > 0
        return int((mem / "memory.failcnt").read_text()) > 0  # hit the limit at least: best effort

    def pids_limit_hit(self) -> bool:
        return _read_counters(self.dirs["pids"] / "pids.events").get("max", 0) > 0

    def remove(self) -> None:
        if self._removed:
            return
        for d in self._unique:
            _rmdir(d)
        self._removed = True


# --- cgroup v2 -------------------------------------------------------------------------------
# Untested: the machines this was written on run cgroup v1. Needs a kernel >= 5.14 (cgroup.kill)
# and write access to our own cgroup (a delegated subtree, e.g. systemd Delegate=yes).


class CgroupV2(JobCgroup):
    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, name: str, limits: SandboxLimits):
        own = self._own_dir()
        self._enable_controllers(own)
        self.dir = own / name
        self.procs_files = [self.dir / "cgroup.procs"]
        self._removed = False
        try:
            self.dir.mkdir()
            mem = str(limits.memory_mb * 1024 * 1024)
            (self.dir / "memory.max").write_text(mem)
            (self.dir / "memory.swap.max").write_text("0")  # v1's memsw = memory: no swap at all
            (self.dir / "pids.max").write_text(str(limits.pids))
            quota = max(1000, int(limits.cpus * CFS_PERIOD_US))
            (self.dir / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
        except OSError as e:
            self.remove()
            raise SandboxError(f"cannot create job cgroup {name}: {e}") from e

    HOST_LEAF = "grader-host"

    @classmethod
    def _own_dir(cls) -> Path:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                own = cls.ROOT / line[3:].lstrip("/")
                return own.parent if own.name == cls.HOST_LEAF else own  # we moved ourselves there
        raise SandboxError("no cgroup v2 membership in /proc/self/cgroup")

    @classmethod
    def _enable_controllers(cls, own: Path) -> None:
        want = "+memory +pids +cpu"
        try:
            (own / "cgroup.subtree_control").write_text(want)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise SandboxError(f"cannot enable controllers in {own}: {e}") from e
            # "No internal processes": move ourselves into a leaf, then enable them for children.
            leaf = own / cls.HOST_LEAF
            leaf.mkdir(exist_ok=True)
            (leaf / "cgroup.procs").write_text(str(os.getpid()))
            (own / "cgroup.subtree_control").write_text(want)

    def pids(self) -> set[int]:
        try:
            return {int(p) for p in (self.dir / "cgroup.procs").read_text().split()}
        except FileNotFoundError:
            return set()

    def kill(self, spare: int | None = None, timeout: float = 5.0) -> None:
        if spare is None:
            (self.dir / "cgroup.kill").write_text("1")
        else:  # cgroup.kill spares no one: freeze, kill one by one, thaw
            (self.dir / "cgroup.freeze").write_text("1")
            _kill_all(_victims(self.pids(), spare))
            (self.dir / "cgroup.freeze").write_text("0")
        wait_until(lambda: not self.pids() - {spare}, timeout, "the job's processes to exit")

    def oom_killed(self) -> bool:
        return _read_counters(self.dir / "memory.events").get("oom_kill", 0) > 0

    def pids_limit_hit(self) -> bool:
        return _read_counters(self.dir / "pids.events").get("max", 0) > 0

    def remove(self) -> None:
        if not self._removed:
            _rmdir(self.dir)
            self._removed = True


def cgroup_version() -> int:
    """1 when the memory controller is on a v1 hierarchy, else 2 (unified)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if "memory" in line.split(":", 2)[1].split(","):
            return 1
    return 2


def create_job_cgroup(name: str, limits: SandboxLimits) -> JobCgroup:
    return CgroupV1(name, limits) if cgroup_version() == 1 else CgroupV2(name, limits)
