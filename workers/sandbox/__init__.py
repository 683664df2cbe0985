"""Sandbox backends for the student zone, behind the interface in ``base``."""

from __future__ import annotations

from grader.settings import Settings

from .base import SandboxBackend, SandboxError

BACKENDS = ("bwrap", "docker")


def get_backend(name: str, settings: Settings) -> SandboxBackend:
    """The backend called ``name`` (``settings.sandbox_backend`` by convention)."""
    if name == "bwrap":
        from .bwrap import BwrapBackend

        return BwrapBackend(settings)
    if name == "docker":
        from .docker import DockerBackend

        return DockerBackend(settings)
    raise SandboxError(f"unknown sandbox backend {name!r}; known: {', '.join(BACKENDS)}")
