"""What a sandbox container is made of: its command (init, uid drop, empty environment), its
mounts and limits, and the seccomp profile. Pure: builds arguments for the Docker API, starts nothing."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import RUNNER_MOUNT, RUNTIME_MOUNT, SUBMISSION_MOUNT, WORK_MOUNT, SandboxSpec
from .common import MiB
from .seccomp import DENIED

INIT = "/usr/bin/docker-init"  # docker.io's tini-static, seen through the /usr bind
SETPRIV = "/usr/bin/setpriv"
ENV = "/usr/bin/env"
HOST_TOOLS = (INIT, SETPRIV, ENV)  # run from the host's /usr inside the container
INIT_CAPS = ["SETUID", "SETGID", "SETPCAP"]  # pid 1's only capabilities: what setpriv needs to drop to the uid
SECCOMP_PROFILE = Path(__file__).with_name("docker_seccomp.json")  # Docker 20.10.24's default (moby, Apache-2.0)
DENIED_SYSCALLS = DENIED  # as under bwrap (seccomp.py): no reaching into another process of the job


@lru_cache(maxsize=1)
def seccomp_profile() -> str:
    """Docker's default profile, less the syscalls that reach into another process (it allows ptrace
    on kernels >= 4.8, pidfd_open always, pidfd_getfd with CAP_SYS_PTRACE); whatever is not allowed
    fails with EPERM."""
    profile = json.loads(SECCOMP_PROFILE.read_text())
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in DENIED_SYSCALLS or rule["action"] != "SCMP_ACT_ALLOW"]
        if names:
            rules.append({**rule, "names": names})
    return json.dumps({**profile, "syscalls": rules}, separators=(",", ":"))


def command(spec: SandboxSpec) -> list[str]:
    """tini (pid 1, root) -> setpriv (the sandbox uid, no capabilities) -> env -i (exactly spec.env) -> argv."""
    limits = spec.limits
    return [INIT, "--", SETPRIV, f"--reuid={limits.uid}", f"--regid={limits.gid}", "--clear-groups",
            "--bounding-set=-all", "--inh-caps=-all", "--",
            ENV, "-i", "--", *(f"{k}={v}" for k, v in spec.env.items()), *spec.argv]  # fmt: skip


def host_config(spec: SandboxSpec, gpu_device: str | None) -> dict[str, Any]:
    """Keyword arguments of ``create_host_config``; ``gpu_device`` is the worker's pinned GPU, if any."""
    from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

    limits = spec.limits
    binds = [
        ("/usr", "/usr"),
        (str(spec.runtime_dir), RUNTIME_MOUNT),
        (str(spec.runner_dir), RUNNER_MOUNT),
        (str(spec.submission_dir), SUBMISSION_MOUNT),
    ]
    for top in ("bin", "lib", "lib32", "lib64", "sbin"):  # the image mirrors the host's merged-/usr links
        host = Path("/", top)
        if host.is_dir() and not host.is_symlink():
            binds.append((str(host), str(host)))
    for extra in ("/etc/ld.so.cache", "/etc/alternatives"):  # /usr/bin links into alternatives
        if Path(extra).exists():
            binds.append((extra, extra))
    mounts = [Mount(target, source, type="bind", read_only=True) for source, target in binds]
    # As bwrap's tmpfs: nosuid, nodev, exec allowed; /work owned by the student, mode 0700.
    tmpfs = {
        WORK_MOUNT: f"size={limits.work_dir_mb * MiB},mode=0700,uid={limits.uid},gid={limits.gid},nosuid,nodev,exec",
        "/tmp": f"size={limits.tmp_mb * MiB},mode=1777,nosuid,nodev,exec",
        "/dev/shm": f"size={limits.shm_mb * MiB},mode=1777,nosuid,nodev,exec",
    }
    devices = []
    if spec.gpu:  # untested here (no GPU): the NVIDIA runtime hook adds devices and driver libraries
        device = getattr(spec, "device", None)
        pinned = device.uuid if device is not None else gpu_device
        devices = [DeviceRequest(device_ids=[str(pinned)], capabilities=[["gpu"]]) if pinned
                   else DeviceRequest(count=1, capabilities=[["gpu"]])]  # fmt: skip
    else:  # host hardware facts; bwrap shows no /sys at all. The GPU stack may read it.
        tmpfs["/sys"] = "size=4096,ro,nosuid,nodev,noexec"
    cpu = limits.cpu_time_s
    return dict(
        mounts=mounts, tmpfs=tmpfs, read_only=True, network_mode="none" if not limits.network else "bridge",
        mem_limit=limits.memory_mb * MiB, memswap_limit=limits.memory_mb * MiB, pids_limit=limits.pids,
        nano_cpus=int(limits.cpus * 1e9), ipc_mode="private", cap_drop=["ALL"], cap_add=INIT_CAPS,
        security_opt=["no-new-privileges", f"seccomp={seccomp_profile()}"],
        ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1),
                 Ulimit(name="fsize", soft=limits.file_size_mb * MiB, hard=limits.file_size_mb * MiB),
                 Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                 Ulimit(name="core", soft=0, hard=0)],
        log_config=LogConfig(type="none"),  # stdout/stderr come over the attach socket, never to disk
        device_requests=devices or None,
    )  # fmt: skip
