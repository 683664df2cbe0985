"""The Docker backend: the student zone as a locked-down container, started through the Docker SDK.

The image (scripts/build_sandbox_image.sh) is a near-empty root: the host's /usr, the course
runtime, the runner and the submission are bound read-only onto its mount points, so the program
sees the same layout (base.py) and the same libraries as under bubblewrap.

    docker-init (tini, pid 1, root: reaps orphans) -> setpriv (to the sandbox uid, no capabilities)
      -> env -i (exactly spec.env) -> the program

Why root first, not ``user=65534``: runc chowns the container's stdio pipes to the container's
user, and then any process of that uid could reopen the protocol pipes through /proc/<pid>/fd and
forge the runner's replies. With the container's user root the pipes stay root's (mode 0600), as
under bubblewrap; pid 1 keeps only CAP_SETUID/SETGID/SETPCAP, which setpriv uses to drop to the
sandbox uid with an empty bounding set before anything of the job runs.

The parts: docker_client (the engine, the image), docker_config (what the container is made of),
docker_process (one running container), docker_orphans (labels, and the sweep of containers whose
host process was SIGKILLed before ``kill()``: every backend started on the host runs it first).
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from grader.settings import Settings

from .base import WORK_MOUNT, SandboxError, SandboxSpec
from .common import HOSTNAME, check_reachable
from .docker_client import docker_client, image_id
from .docker_config import HOST_TOOLS, command, host_config
from .docker_orphans import owner_labels, reap_orphans
from .docker_process import DockerProcess


class DockerBackend:
    name = "docker"

    def __init__(self, settings: Settings):
        self.client = docker_client()
        self.image = image_id(settings)
        self.hostname = socket.gethostname()
        self.gpu_device = getattr(settings, "gpu_device", None)  # the worker's pinned GPU, if any
        for tool in HOST_TOOLS:
            if not os.access(tool, os.X_OK):
                raise SandboxError(f"{tool} is missing on the host (docker.io and coreutils provide it)")
        try:
            reap_orphans(self.client, self.hostname)
        except Exception:
            pass

    def start(self, spec: SandboxSpec) -> DockerProcess:
        if not spec.argv:
            raise SandboxError("empty argv")
        limits = spec.limits
        for path in (spec.runtime_dir, spec.runner_dir, spec.submission_dir):
            check_reachable(Path(path), limits.uid)
        if any("=" in key or not key for key in spec.env):
            raise SandboxError("environment names must be non-empty and hold no '='")
        name = f"grader-{uuid.uuid4().hex[:16]}"
        try:
            container = self.client.api.create_container(
                self.image, command=command(spec),
                name=name, user="0:0", working_dir=WORK_MOUNT, hostname=HOSTNAME,
                environment={}, stdin_open=True, tty=False, network_disabled=not limits.network,  # StdinOnce: not detached
                labels=owner_labels(name, self.hostname),
                host_config=self.client.api.create_host_config(**host_config(spec, self.gpu_device)),
            )  # fmt: skip
        except Exception as e:  # DockerException, or requests' own (a timeout after the engine made it)
            try:
                self._remove(name)
            except SandboxError:
                pass  # the creation error is the one to report
            raise SandboxError(f"cannot create the sandbox container: {e}") from e
        return DockerProcess(self.client, container["Id"], name, limits)

    def _remove(self, name: str) -> None:
        from docker.errors import DockerException, NotFound

        try:
            self.client.api.remove_container(name, force=True)
        except NotFound:
            pass
        except DockerException as e:
            raise SandboxError(f"cannot remove container {name}: {e}") from e
