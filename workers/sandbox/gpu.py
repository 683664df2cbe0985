"""GPUs for the student zone: the one device a worker owns, what bubblewrap binds for a job on it,
and the after-job check that takes the device out of service when something still holds its memory.

Isolation is one job per GPU (or MIG slice): run one ``gpu``-queue worker per device, pinned with
``grader worker --gpu-device N`` (or ``GRADER_GPU_DEVICE`` / the worker's ``CUDA_VISIBLE_DEVICES``).
The sandbox sees only that device's node; torch's memory fraction, set by the prelude, is a courtesy
that student code can undo, never a limit.

Everything here reads the machine through ``nvidia-smi``, ``ldconfig -p`` and ``settings.gpu_dev_root``:
the tests put a fake ``nvidia-smi`` on PATH and a fake /dev tree in place, since no GPU is at hand.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.settings import Settings

from .base import SandboxError

log = logging.getLogger(__name__)

PROC_GPUS = Path("/proc/driver/nvidia/gpus")  # <bus id>/information names each GPU's device minor
SMI_TIMEOUT_S = 30
RELEASE_GRACE_S = 10.0  # the driver frees a killed process's memory within moments; wait this long
OPTIONAL_NODES = ("nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")  # CUDA needs uvm; the rest if present
DRIVER_LIB = re.compile(r"^lib(cuda|cudadebugger|nvidia-[\w.+-]+)\.so")  # not libcudart & co: the runtime ships those
MERGED_USR = ("/usr/", "/lib/", "/lib64/", "/lib32/")  # bound into every sandbox already


class GpuError(SandboxError):
    """No usable GPU for this job or worker: an infrastructure failure, never the student's."""


@dataclass(frozen=True)
class Gpu:
    index: int  # nvidia-smi's index (PCI bus order)
    uuid: str  # GPU-...
    bus_id: str
    memory_used_mib: int | None
    migs: tuple[str, ...] = ()  # MIG-... slices on it


@dataclass(frozen=True)
class Device:
    """The device of one worker: a whole GPU, or one MIG slice of it."""

    uuid: str  # what CUDA_VISIBLE_DEVICES names inside the sandbox: GPU-... or MIG-...
    gpu_uuid: str  # the physical GPU
    index: int
    minor: int  # /dev/nvidia<minor>

    @property
    def mig(self) -> bool:
        return self.uuid != self.gpu_uuid


# -- reading the machine -----------------------------------------------------------------------


def nvidia_smi(*args: str) -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        raise GpuError("no NVIDIA GPU here: nvidia-smi is not installed")
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GpuError(f"nvidia-smi failed: {e}") from e
    if done.returncode != 0:
        raise GpuError(f"nvidia-smi {' '.join(args)} exited {done.returncode}: {(done.stderr or done.stdout)[:300]}")
    return done.stdout


def _csv(text: str) -> list[list[str]]:
    return [[f.strip() for f in line.split(",")] for line in text.splitlines() if line.strip()]


def _int(field: str) -> int | None:
    return int(field) if field.isdigit() else None  # "[N/A]", "[Not Supported]"


def parse_gpus(csv: str) -> list[Gpu]:
    """``--query-gpu=index,uuid,pci.bus_id,memory.used --format=csv,noheader,nounits``."""
    gpus = []
    for row in _csv(csv):
        if len(row) < 4 or not row[0].isdigit() or not row[1].startswith("GPU-"):
            raise GpuError(f"unexpected nvidia-smi line: {', '.join(row)[:200]}")
        gpus.append(Gpu(index=int(row[0]), uuid=row[1], bus_id=row[2], memory_used_mib=_int(row[3])))
    return gpus


def parse_migs(listing: str) -> dict[str, tuple[str, ...]]:
    """``nvidia-smi -L``: {GPU uuid: (its MIG uuids)}."""
    migs: dict[str, list[str]] = {}
    current = None
    for line in listing.splitlines():
        m = re.search(r"\(UUID: (GPU-[^)\s]+)\)", line)
        if m:
            current = m[1]
            migs[current] = []
            continue
        m = re.search(r"\(UUID: (MIG-[^)\s]+)\)", line)
        if m and current is not None:
            migs[current].append(m[1])
    return {k: tuple(v) for k, v in migs.items()}


def list_gpus() -> list[Gpu]:
    gpus = parse_gpus(nvidia_smi("--query-gpu=index,uuid,pci.bus_id,memory.used", "--format=csv,noheader,nounits"))
    migs = parse_migs(nvidia_smi("-L"))
    return [Gpu(g.index, g.uuid, g.bus_id, g.memory_used_mib, migs.get(g.uuid, ())) for g in gpus]


def device_minor(gpu: Gpu, proc_gpus: Path | None = None) -> int:
    """The GPU's /dev/nvidia<minor>. Usually its index, but not always (driver probe order): the
    driver's own /proc entry says, where it can be read."""
    proc_gpus = PROC_GPUS if proc_gpus is None else proc_gpus
    domain, _, rest = gpu.bus_id.lower().partition(":")
    for name in (f"{domain[-4:]}:{rest}", gpu.bus_id.lower()):
        try:
            info = (proc_gpus / name / "information").read_text()
        except OSError:
            continue
        m = re.search(r"^Device Minor:\s*(\d+)", info, re.M)
        if m:
            return int(m[1])
    return gpu.index


def gpu_here() -> bool:
    """Whether this machine has a GPU at all (nvidia-smi answers and lists one). False where the
    driver is missing or cannot answer: a job that may run on the CPU then does (``cpu_job``)."""
    try:
        return bool(list_gpus())
    except GpuError:
        return False


def cpu_job(settings: Settings, *, cpu_fallback: bool) -> bool:
    """A gpu job graded on the CPU instead: its rubric names the CPU as its fallback, this process
    was not pinned to a device (a pinned gpu worker's missing device stays an infrastructure error),
    and there is no GPU here (``grader grade``, ``grader rubric check``, tests on a CPU machine)."""
    if not cpu_fallback:
        return False
    try:
        if pinned_spec(settings) is not None:
            return False
    except GpuError:
        return False
    return not gpu_here()


def describe(device: Device) -> str:
    """How a run's log names the device that graded it."""
    if device.mig:
        return f"GPU {device.index}, MIG slice {device.uuid}"
    return f"GPU {device.index} ({device.uuid})"


# -- which device ------------------------------------------------------------------------------


def pinned_spec(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The device this worker was given: settings, else its own CUDA_VISIBLE_DEVICES (one entry)."""
    if settings.gpu_device:
        return settings.gpu_device.strip()
    visible = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES", "").strip()
    if not visible:
        return None
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if len(entries) != 1:
        raise GpuError(
            f"CUDA_VISIBLE_DEVICES={visible!r} names {len(entries)} devices; "
            "pin each gpu worker to exactly one (one worker per GPU or MIG slice)"
        )
    return entries[0]


def resolve(spec: str | None, gpus: list[Gpu], proc_gpus: Path | None = None) -> Device:
    """``spec`` (an index, GPU-uuid or MIG-uuid; None: the machine's only GPU) as a Device."""
    if not gpus:
        raise GpuError("no NVIDIA GPU here: nvidia-smi lists none")
    if spec is None:
        if len(gpus) != 1 or gpus[0].migs:
            raise GpuError(
                f"this machine has {len(gpus)} GPU(s){' with MIG slices' if gpus[0].migs else ''}: "
                "pin each gpu worker to one (grader worker --gpu-device N)"
            )
        spec = gpus[0].uuid
    for g in gpus:
        if spec in (str(g.index), g.uuid):
            if g.migs:
                raise GpuError(f"GPU {g.index} is split into MIG slices; pin the worker to one of: {', '.join(g.migs)}")
            return Device(uuid=g.uuid, gpu_uuid=g.uuid, index=g.index, minor=device_minor(g, proc_gpus))
        if spec in g.migs:
            return Device(uuid=spec, gpu_uuid=g.uuid, index=g.index, minor=device_minor(g, proc_gpus))
    known = ", ".join(f"{g.index} ({g.uuid})" for g in gpus)
    raise GpuError(f"no GPU or MIG slice {spec!r} here; known: {known}")


# -- the sandbox's view ------------------------------------------------------------------------


def parse_ldconfig(text: str) -> list[Path]:
    """The driver's libraries in ``ldconfig -p`` (libcuda, libnvidia-*), as resolved paths."""
    libs = []
    for line in text.splitlines():
        name, sep, path = line.strip().partition(" => ")
        if sep and DRIVER_LIB.match(name.split()[0]):
            libs.append(Path(path.strip()))
    return libs


def driver_library_dirs(ldconfig_text: str | None = None) -> list[Path]:
    """Folders of driver libraries the sandbox does not already see (it binds /usr): e.g. those an
    NVIDIA container runtime puts in /usr/local/nvidia/lib64. The bound ld.so.cache finds them."""
    if ldconfig_text is None:
        try:
            ldconfig_text = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            ldconfig_text = ""
    dirs = {p.parent for p in parse_ldconfig(ldconfig_text) if not str(p).startswith(MERGED_USR)}
    return sorted(d for d in dirs if d.is_dir())


def sandbox_env(device: Device) -> dict[str, str]:
    # By UUID: inside, the one bound node is the only device anyway; the UUID also picks the MIG slice.
    return {"CUDA_VISIBLE_DEVICES": device.uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def bwrap_options(device: Device, dev_root: Path = Path("/dev"), ldconfig_text: str | None = None) -> list[str]:
    """bwrap arguments giving the sandbox this one device (and the driver), nothing of the others."""
    required = [f"nvidia{device.minor}", "nvidiactl"]
    missing = [n for n in required if not (dev_root / n).is_char_device()]
    if missing:
        raise GpuError(f"GPU {device.uuid}: no {', '.join(str(dev_root / n) for n in missing)} device node")
    nodes = required + [n for n in OPTIONAL_NODES if (dev_root / n).is_char_device()]
    if device.mig and (dev_root / "nvidia-caps").is_dir():
        # Under bwrap every slice's capability node is bound and CUDA_VISIBLE_DEVICES picks the slice:
        # strict per-slice isolation needs the docker backend (the NVIDIA runtime binds one slice's).
        nodes.append("nvidia-caps")
    opts: list[str] = []
    for name in nodes:
        opts += ["--dev-bind", str(dev_root / name), f"/dev/{name}"]
    for folder in driver_library_dirs(ldconfig_text):
        opts += ["--ro-bind", str(folder), str(folder)]
    return opts


# -- out of service ----------------------------------------------------------------------------


def _marker(settings: Settings, device: Device) -> Path:
    return settings.state_dir / "gpu-out-of-service" / device.uuid


def out_of_service(settings: Settings, device: Device) -> str | None:
    """Why the device was taken out of service, or None if it is in service."""
    try:
        return _marker(settings, device).read_text().strip() or "(no reason recorded)"
    except FileNotFoundError:
        return None


def take_out_of_service(settings: Settings, device: Device, reason: str) -> None:
    marker = _marker(settings, device)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {reason}\n")
    os.replace(tmp, marker)
    log.error(
        "GPU %s (index %s) taken OUT OF SERVICE: %s. Its worker stops taking gpu jobs; "
        "after checking the device, delete %s to bring it back.",
        device.uuid,
        device.index,
        reason,
        marker,
    )


def parse_compute_apps(csv: str) -> list[tuple[str, int, int | None]]:
    """``--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits``."""
    apps = []
    for row in _csv(csv):
        if len(row) >= 3 and row[1].isdigit():
            apps.append((row[0], int(row[1]), _int(row[2])))
    return apps


def holders(device: Device) -> list[tuple[int, int | None]]:
    """(pid, MiB) of every process holding memory on the device. The job is dead by now, so any
    process there is a leak: this worker runs one job at a time on its device."""
    apps = parse_compute_apps(
        nvidia_smi("--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits")
    )
    # nvidia-smi may name a slice's processes by the slice or by its GPU: for a slice, the slice only
    # (another worker owns the GPU's other slices), which is as far as this check can see.
    uuids = {device.uuid} if device.mig else {device.uuid, device.gpu_uuid}
    return [(pid, mib) for uuid, pid, mib in apps if uuid in uuids]


def job_device(settings: Settings) -> Device:
    """The device for a gpu job on this worker, refused when none is usable or it is out of service."""
    device = resolve(pinned_spec(settings), list_gpus())
    reason = out_of_service(settings, device)
    if reason is not None:
        raise GpuError(f"GPU {device.uuid} is out of service ({reason}); this worker takes no gpu jobs")
    return device


def check_released(
    settings: Settings, device: Device, grace_s: float = RELEASE_GRACE_S, poll_s: float = 0.5
) -> list[tuple[int, int | None]]:
    """After a job is killed: wait up to ``grace_s`` for the device to be free; if a process still
    holds memory on it, take the device out of service. Returns what was left holding it."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            left = holders(device)
        except GpuError as e:  # a driver that cannot answer is no device to hand the next job
            take_out_of_service(settings, device, f"cannot check the device after a job: {e}")
            return []
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    if left:
        held = ", ".join(f"pid {pid} ({mib if mib is not None else '?'} MiB)" for pid, mib in left)
        take_out_of_service(settings, device, f"memory still held after a job ended: {held}")
    return left


class OutOfServiceWatch(threading.Thread):
    """In a gpu worker's main process: once its device is taken out of service (by a judge, after
    a job), stop the worker (a warm shutdown: the job in hand finishes) so it takes no more gpu jobs."""

    def __init__(
        self, settings: Settings, device: Device, interval_s: float = 5.0, on_out: Callable[[str], None] | None = None
    ):
        super().__init__(name="gpu-out-of-service-watch", daemon=True)
        self.settings, self.device, self.interval_s = settings, device, interval_s
        self.on_out = on_out or self._stop_worker
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            reason = out_of_service(self.settings, self.device)
            if reason is not None:
                self.on_out(reason)
                return

    def _stop_worker(self, reason: str) -> None:
        log.error(
            "GPU %s is out of service (%s): stopping this worker so it takes no more gpu jobs", self.device.uuid, reason
        )
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        self._stop_event.set()
