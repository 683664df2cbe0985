"""The Docker engine as the docker backend reaches it: a checked connection and the sandbox image's id."""

from __future__ import annotations

from typing import Any

from grader.settings import Settings

from .base import SandboxError


def docker_client() -> Any:
    """A ``docker.DockerClient`` that answered a ping; SandboxError if the SDK or the engine is missing."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as e:  # pragma: no cover - a pinned dependency
        raise SandboxError("the docker SDK is not installed (pip install docker)") from e
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as e:
        raise SandboxError(f"the Docker engine does not answer: {e} (scripts/ensure_docker.sh)") from e
    return client


def image_id(settings: Settings) -> str:
    """The id (sha256:...) of the sandbox image the settings name; SandboxError if it is missing."""
    from docker.errors import DockerException, ImageNotFound

    try:
        return docker_client().images.get(settings.docker_image).id
    except ImageNotFound:
        raise SandboxError(f"no image {settings.docker_image}: run scripts/build_sandbox_image.sh") from None
    except DockerException as e:
        raise SandboxError(f"cannot inspect {settings.docker_image}: {e}") from e
