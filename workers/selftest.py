"""A worker's start-up self-test: one tiny job in the sandbox, on the configured backend, under the
same limits (cgroups included) as a real job. A worker whose sandbox cannot start a job refuses to
serve instead of taking runs and failing each one as an infrastructure error.

``self_test`` raises ``SelfTestFailed`` with the cause and the fix in words (``diagnose``: bubblewrap
missing, user namespaces off, a read-only cgroup tree, no Docker engine, no sandbox image, no course
runtime). ``grader worker`` (``workers.worker``) and ``grader up`` (``grader.embedded.up``) run it
first and exit with ``EXIT_CODE`` and that message. A pass is remembered in this process for the
same backend and limits, so a second start in one process costs nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.grading.job import create_job_folder
from grader.settings import Settings
from workers.sandbox import get_backend
from workers.sandbox.base import RUNTIME_MOUNT, SandboxSpec

log = logging.getLogger(__name__)

EXIT_CODE = 78  # sysexits' EX_CONFIG: the machine's configuration, not the program, is at fault
WAIT_S = 60.0  # a tiny job that has not finished by then will not grade anything either
OK = "grader-self-test-ok"
# Inside: write to the work dir (the size-limited tmpfs), then say so.
PROGRAM = f"open('/work/probe', 'w').write('x'); print({OK!r})"
SYSCTLS = (
    "user/max_user_namespaces",
    "kernel/unprivileged_userns_clone",
    "kernel/apparmor_restrict_unprivileged_userns",
)

_passed: dict[str, float] = {}  # this process's passes: cache key -> seconds the test took


class SelfTestFailed(Exception):
    def __init__(self, backend: str, cause: str, fix: str, detail: str):
        self.backend, self.cause, self.fix, self.detail = backend, cause, fix, detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return (
            f"the sandbox self-test failed on the {self.backend} backend: this worker refuses to serve.\n"
            f"  cause: {self.cause}\n"
            f"  fix:   {self.fix}\n"
            f"  error: {self.detail}"
        )


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str


def read_sysctls(root: Path = Path("/proc/sys")) -> dict[str, str]:
    """The kernel settings that decide whether an unprivileged process may make a user namespace."""
    found = {}
    for name in SYSCTLS:
        try:
            found[name] = (root / name).read_text().strip()
        except OSError:
            continue  # not this kernel's setting
    return found


def diagnose(backend: str, error: str, settings: Settings, sysctls: Mapping[str, str]) -> Diagnosis:
    """The cause and the fix of a failed tiny job, from the backend's error and the machine (pure:
    the caller reads ``sysctls``)."""
    other = "docker" if backend == "bwrap" else "bwrap"
    switch = f"or run this worker with the {other} backend (GRADER_SANDBOX_BACKEND={other})"
    text = error.lower()
    if backend == "docker":
        if "does not answer" in text or "connection refused" in text:
            return Diagnosis(
                "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)",
                f"start the Docker engine (systemctl start docker, or scripts/ensure_docker.sh) or point DOCKER_HOST "
                f"at a running one, {switch}",
            )
        if "no image" in text:
            return Diagnosis(
                f"the sandbox image {settings.docker_image} is not on this Docker engine",
                "build it with scripts/build_sandbox_image.sh, or set GRADER_DOCKER_IMAGE to an image that is there",
            )
    if backend == "bwrap" and "bubblewrap not found" in text:
        return Diagnosis(
            f"bubblewrap is not installed (no executable at {settings.bwrap_path})",
            f"install it (apt-get install bubblewrap) or set GRADER_BWRAP_PATH to where it is, {switch}",
        )
    if "read-only file system" in text and "cgroup" in text:
        return Diagnosis(
            "the cgroup tree is read-only here, so no job cgroup (memory, pids, CPU limits) can be made",
            "give the worker a writable cgroup tree: on the host as root, or in a container started with "
            "--cgroupns=host and /sys/fs/cgroup mounted read-write (privileged, or a cgroup delegated to it)",
        )
    if "cgroup" in text:
        return Diagnosis(
            "no job cgroup could be made under this worker's cgroup",
            "run the worker as root with the memory, pids, cpu and freezer controllers mounted (cgroup v1) or "
            "delegated to its cgroup (cgroup v2)",
        )
    if backend == "bwrap":
        userns = _userns_off(sysctls)
        if userns is not None or any(
            s in text for s in ("namespace", "uid map", "setting up uid", "operation not permitted")
        ):
            return Diagnosis(
                userns or "bubblewrap may not create the sandbox's user namespace",
                "allow unprivileged user namespaces: sysctl -w user.max_user_namespaces=15000 "
                "(Debian: kernel.unprivileged_userns_clone=1; Ubuntu 24.04: an AppArmor profile for bwrap, or "
                "kernel.apparmor_restrict_unprivileged_userns=0), kept in /etc/sysctl.d/, "
                f"{switch}",
            )
    if "does not exist" in text or "not reachable by uid" in text:
        return Diagnosis(
            "a folder the sandbox needs (the course runtime or the jobs folder) is missing or not reachable by "
            "the sandbox uid",
            f"install the runtime (scripts/install_runtime.sh) at GRADER_RUNTIME_DIR ({settings.runtime_dir}) and "
            f"make GRADER_JOBS_DIR ({settings.jobs_dir}) and its parents traversable by uid {settings.sandbox.uid}",
        )
    return Diagnosis(
        "the sandbox could not run a tiny job",
        "read the error below; `grader grade` on a sample (README) shows the same failure with its log",
    )


def _userns_off(sysctls: Mapping[str, str]) -> str | None:
    if sysctls.get("user/max_user_namespaces") == "0":
        return "user namespaces are off (user.max_user_namespaces = 0), and bubblewrap needs one"
    if sysctls.get("kernel/unprivileged_userns_clone") == "0":
        return "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0), and bubblewrap needs one"
    return None


def cache_key(settings: Settings) -> str:
    return "|".join(
        [
            settings.sandbox_backend,
            settings.sandbox.model_dump_json(),
            str(settings.bwrap_path),
            settings.docker_image,
            str(settings.runtime_dir),
            str(settings.jobs_dir),
        ]
    )


def self_test(settings: Settings) -> float:
    """Run the tiny job; the seconds it took (0 when this process passed it already for these
    settings). Raises ``SelfTestFailed``."""
    key = cache_key(settings)
    if key in _passed:
        return 0.0
    backend = settings.sandbox_backend
    started = time.monotonic()
    error = _tiny_job(settings)
    if error is not None:
        found = diagnose(backend, error, settings, read_sysctls())
        raise SelfTestFailed(backend, found.cause, found.fix, error)
    took = time.monotonic() - started
    _passed[key] = took
    log.info("sandbox self-test passed on %s in %.2fs", backend, took)
    return took


def _tiny_job(settings: Settings) -> str | None:
    """None when the job ran and said so; else what went wrong, in the backend's words."""
    runtime = settings.runtime_dir / "bin" / "python"
    if not runtime.exists():
        return f"the course runtime {runtime} does not exist"
    try:
        folder = create_job_folder(settings)
    except OSError as exc:
        return f"cannot make a job folder under {settings.jobs_dir}: {exc}"
    try:
        runner, submission = folder / "runner", folder / "submission"
        for d in (runner, submission):
            d.mkdir(mode=0o755)
            d.chmod(0o755)
        spec = SandboxSpec(
            argv=[f"{RUNTIME_MOUNT}/bin/python", "-I", "-S", "-c", PROGRAM],
            runtime_dir=settings.runtime_dir,
            runner_dir=runner,
            submission_dir=submission,
            limits=settings.sandbox,  # the limits of a real job: its cgroup, rlimits and tmpfs sizes
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        try:
            proc = get_backend(settings.sandbox_backend, settings).start(spec)
        except Exception as exc:  # SandboxError mostly; anything else is as fatal here
            return f"{type(exc).__name__}: {exc}"
        try:
            proc.stdin.close()
            code = proc.wait(timeout=WAIT_S)
            out = proc.stdout.read() if code is not None else b""
        finally:
            outcome = proc.kill()
        if code is None:
            return f"the tiny job did not finish within {WAIT_S:g}s"
        if code != 0 or OK.encode() not in out:
            sandbox_log = outcome.log.decode("utf-8", "replace").strip()[-2000:]
            return f"the tiny job exited with {code}: {sandbox_log or '(no output)'}"
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
