"""Who owns a sandbox container (its labels), and the sweep of containers whose owner died unseen."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

LABEL = "grader.sandbox"  # every container of ours carries it


def owner_labels(name: str, hostname: str) -> dict[str, str]:
    """The labels of a new container: ours, its job name, and the host process that must remove it."""
    return {LABEL: "1", "grader.job": name, "grader.host": hostname,
            "grader.host_pid": str(os.getpid()), "grader.host_start": _own_start_time()}  # fmt: skip


def _alive(pid: int, start: str) -> bool:
    # The start time tells the owner from a later process given the same pid.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] == start
    except (OSError, IndexError):
        return False


def _own_start_time() -> str:
    return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]


def reap_orphans(client: Any, hostname: str | None = None) -> list[str]:
    """Remove our containers whose host process is gone (killed before it could ``kill()``).
    Only containers started from this host (by name) are judged: pids mean nothing elsewhere."""
    from docker.errors import DockerException

    hostname = hostname or socket.gethostname()
    removed = []
    for c in client.api.containers(all=True, filters={"label": LABEL}):
        labels = c.get("Labels") or {}
        try:
            pid, start = int(labels.get("grader.host_pid", "")), labels.get("grader.host_start", "")
        except ValueError:
            continue
        if labels.get("grader.host") != hostname or _alive(pid, start):
            continue
        try:
            client.api.remove_container(c["Id"], force=True)
            removed.append(c["Id"])
        except DockerException:
            pass  # another sweeper got there first
    return removed
