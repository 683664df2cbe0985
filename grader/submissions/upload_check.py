"""Checking an upload in a child process with CPU, memory, file-size and wall-clock limits.

``stage_submission`` parses untrusted bytes (JSON, nbformat's schema, zip directories). Parsed in
the API process, a crafted file holds the GIL for as long as it takes (a notebook of many tiny
cells costs about half a CPU second per MB) and its memory, and a parser error outside the
expected ones becomes a 500. Here it runs in ``python -m grader.submissions.upload_check``,
which limits itself (RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE) before it reads the file, and the
parent kills it at the wall-clock deadline. Whatever stops the check on the file's account
becomes a ``SubmissionError`` with a sentence for the student.

The check is forked from a template that imported this module once (``settings.fork_servers``;
grader.processes.forkserver): a new interpreter would spend about 0.5 CPU-seconds importing
pydantic, nbformat and the rubric model for every upload, at the deadline the busiest path there is.

The child reads one JSON request on stdin and writes one JSON answer on stdout:
``{"files": [[name, sha256, size], ...], "ignored": [path, ...]}`` or ``{"refused": "<a sentence>"}``
(``ignored``: a repository snapshot's files the rubric allows but does not grade).
"""

from __future__ import annotations

import hashlib
import json
import resource
import signal
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from grader.blobs.base import CHUNK
from grader.grading.intake import SubmissionError, stage_submission
from grader.processes.forkserver import ForkServerError, shared_server
from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits

# Failures of the standard library's parsers on damaged or hostile input: the file's fault.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, UnicodeError)


@dataclass(frozen=True)
class CheckBounds:
    """What one check may use."""

    cpu_s: int
    timeout_s: float
    memory_mb: int
    fork: bool = True  # forked from this process's template (settings.fork_servers), else a new interpreter


@dataclass(frozen=True)
class CheckedFile:
    """One staged file of an accepted upload: its rubric name, content hash and size."""

    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class CheckedUpload:
    files: list[CheckedFile]  # exactly what is graded
    ignored: list[str]  # extra files of a snapshot, not graded (listed for the marker)


def check_upload(
    path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits, bounds: CheckBounds
) -> list[CheckedFile]:
    """The staged files of ``inspect_upload``."""
    return inspect_upload(path, rubric, dest, limits, bounds).files


TEMPLATE = f"{__name__}:main"  # what this process's fork server runs for each check


def _run_check(request: bytes, cwd: Path, timeout_s: float, fork: bool) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of one check: forked from the template if ``fork``, else (or if the
    template is gone) a new interpreter. ``TimeoutExpired`` once the check has been killed."""
    if fork:
        try:
            proc = shared_server(TEMPLATE).spawn([], stdin=True, stderr=True, cwd=str(cwd))
        except ForkServerError:
            pass  # the cold way below
        else:
            try:
                out, err = proc.communicate(request, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            return proc.returncode if proc.returncode is not None else -1, out, err or b""
    done = subprocess.run(
        [sys.executable, "-m", "grader.submissions.upload_check"],
        input=request,
        capture_output=True,
        timeout=timeout_s,
        cwd=cwd,
    )  # on timeout, run() has killed the child
    return done.returncode, done.stdout, done.stderr


def inspect_upload(
    path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits, bounds: CheckBounds
) -> CheckedUpload:
    """Stage ``path`` into ``dest`` in a limited child process; raise ``SubmissionError`` when
    the file is refused or its check ran out of CPU, memory or time."""
    request = {
        "path": str(path),
        "dest": str(dest),
        "rubric": rubric.model_dump(mode="json"),
        "limits": limits.model_dump(mode="json"),
        "cpu_s": bounds.cpu_s,
        "memory_mb": bounds.memory_mb,
        "file_mb": rubric.submission.max_mb + 1,
    }
    too_costly = (
        f"checking the file took more than the service allows ({bounds.cpu_s} s of CPU, "
        f"{bounds.timeout_s:g} s in all, {bounds.memory_mb} MB of memory); make it smaller, e.g. "
        "clear large outputs, and submit again."
    )
    try:
        returncode, stdout, stderr = _run_check(
            json.dumps(request).encode(), dest.parent, bounds.timeout_s, bounds.fork
        )
    except subprocess.TimeoutExpired:  # the check has been killed
        raise SubmissionError(too_costly) from None
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGXFSZ):
        raise SubmissionError(too_costly)
    if returncode != 0:
        raise RuntimeError(f"the upload check failed (exit {returncode}): {stderr.decode(errors='replace')[-2000:]}")
    answer = json.loads(stdout)
    if "refused" in answer:
        raise SubmissionError(answer["refused"])
    return CheckedUpload(
        [CheckedFile(name, sha256, size) for name, sha256, size in answer["files"]], list(answer.get("ignored", []))
    )


def _limit_self(cpu_s: int, memory_mb: int, file_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # SIGXCPU at the soft limit
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20,) * 2)  # MemoryError past it
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20,) * 2)  # staged files are rubric-sized
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _answer(request: dict) -> dict:
    rubric = Rubric.model_validate(request["rubric"])
    limits = ExecutionLimits.model_validate(request["limits"])
    try:
        staged = stage_submission(Path(request["path"]), rubric, Path(request["dest"]), limits)
    except SubmissionError as exc:
        return {"refused": str(exc)}
    except DAMAGED as exc:
        return {"refused": f"the file is damaged or not a notebook or zip the service can read ({exc})."[:500]}
    except RecursionError:
        return {"refused": "the notebook's JSON is nested too deeply to be a Jupyter notebook."}
    except MemoryError:
        return {"refused": "the file needs more memory to check than the service allows; make it smaller."}
    return {
        "files": [[name, _sha256(p), p.stat().st_size] for name, p in sorted(staged.files.items())],
        "ignored": staged.ignored,
    }


def main(argv: list[str] | None = None) -> int:
    request = json.loads(sys.stdin.buffer.read())
    _limit_self(request["cpu_s"], request["memory_mb"], request["file_mb"])
    json.dump(_answer(request), sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
