"""What a graded run leaves besides its marks: the executed and the rendered notebook and the
hidden tests' drawings (into the blob store), and the digests of the runtime and hidden suite
that graded it."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

from grader.blobs import BlobStore
from grader.grading.report import GradeReport
from grader.notebooks.marker_page import marker_page
from grader.notebooks.reading import NotebookUnreadable
from grader.notebooks.render import RenderError
from grader.settings import Settings

log = logging.getLogger(__name__)


def store_executed_notebook(store: BlobStore, report: GradeReport) -> str | None:
    if not report.executed_notebook:
        return None
    try:
        return store.put(io.BytesIO(report.executed_notebook)).sha256
    except Exception:  # the marks stand without it
        log.warning("could not store the executed notebook", exc_info=True)
        return None


def store_rendered_notebook(
    store: BlobStore, path: Path, notebook_name: str, code: str, settings: Settings, *, snapshot: bool = False
) -> str | None:
    """The notebook as the student submitted it (their own outputs and plots, not the graded
    re-execution), rendered and sanitised once here so the marking page only streams a blob: the
    member intake graded, rendered in a child process within ``settings.render`` (one too slow or
    too big is a page saying so). Like the executed notebook, the marks stand without it."""
    try:
        page = marker_page(
            path,
            notebook_name=notebook_name,
            title=f"{code}: {notebook_name} as submitted",
            limits=settings.render,
            max_bytes=settings.execution.max_notebook_mb * 2**20,
            snapshot=snapshot,
        )
        return store.put(io.BytesIO(page)).sha256
    except (RenderError, NotebookUnreadable) as exc:
        log.info("the submitted notebook was not rendered: %s", exc)
    except Exception:
        log.warning("could not render or store the submitted notebook", exc_info=True)
    return None


def store_artifacts(store: BlobStore, report: GradeReport) -> dict[str, str]:
    """Each PNG the hidden tests drew, into the blob store (name -> key). Unlike the executed
    notebook, a failure here is not shrugged off: markers mark from these, so the run is retried."""
    keys = {}
    for artifact in report.artifacts:
        if artifact.path is None:
            raise OSError(f"artifact {artifact.name!r} has no file to store")
        with artifact.path.open("rb") as f:
            stored = store.put(f)
        if stored.sha256 != artifact.sha256:
            raise OSError(f"artifact {artifact.name!r} changed on its way to the blob store")
        keys[artifact.name] = stored.sha256
    return keys


def environment_digest(settings: Settings) -> str | None:
    """The runtime that graded; under docker, that runtime in that image (one sha256 of both ids)."""
    try:
        runtime = (settings.runtime_dir / "DIGEST").read_text().split()[0][:64]
    except (OSError, IndexError):
        return None
    if settings.sandbox_backend != "docker":
        return runtime
    from workers.sandbox.base import SandboxError
    from workers.sandbox.docker_client import image_id

    try:
        return hashlib.sha256(f"{runtime}\n{image_id(settings)}".encode()).hexdigest()
    except SandboxError:
        return None


def rubric_digest(folder: Path) -> str | None:
    """The digest of the coursework's rubric file, as ``grader.courseworks.sync`` keeps it."""
    try:
        from grader.courseworks.sync import file_digest

        return file_digest(folder / "rubric.yaml")
    except Exception:
        return None


def hidden_digest(folder: Path) -> str | None:
    try:
        from grader.courseworks.sync import tree_digest

        return tree_digest(folder)
    except Exception:
        return None
