"""Check a submitted file before anything runs, and stage its files under the rubric's names.

Everything here reads untrusted bytes in the trusted process, so it only parses: JSON, nbformat's
schema, zip central directories. Nothing is unpickled or executed.
"""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits

MAX_ZIP_MEMBERS = 64
ZIP_JUNK = ("__MACOSX/", ".DS_Store", ".ipynb_checkpoints/")


class SubmissionError(Exception):
    """The submitted file itself is unusable. The message is written for the student."""


@dataclass(frozen=True)
class StagedSubmission:
    folder: Path  # holds exactly the rubric's files
    notebook: Path
    files: dict[str, Path]  # every staged file by name, the notebook included


def check_notebook_bytes(data: bytes, name: str, limits: ExecutionLimits) -> nbformat.NotebookNode:
    """Parse and validate a notebook; raise SubmissionError with a reason a student understands."""
    if not data.strip():
        raise SubmissionError(f"{name} is empty.")
    if len(data) > limits.max_notebook_mb * 1024 * 1024:
        raise SubmissionError(f"{name} is larger than {limits.max_notebook_mb} MB; clear large outputs and resubmit.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{name} is not UTF-8 text, so it is not a Jupyter notebook.") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{name} is not a Jupyter notebook (not valid JSON: line {exc.lineno}).") from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (no 'cells' or 'nbformat').")
    if raw.get("nbformat") != 4:
        raise SubmissionError(
            f"{name} uses notebook format {raw.get('nbformat')!r}; only format 4 (Jupyter 4 and later) is accepted."
        )
    if not isinstance(raw["cells"], list):
        raise SubmissionError(f"{name}: 'cells' is not a list.")
    code_cells = sum(1 for c in raw["cells"] if isinstance(c, dict) and c.get("cell_type") == "code")
    if code_cells > limits.max_cells:
        raise SubmissionError(f"{name} has {code_cells} code cells; at most {limits.max_cells} are accepted.")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (nbformat.ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc).splitlines()[0][:300]
        raise SubmissionError(f"{name} is not a valid Jupyter notebook: {reason}") from None
    return nb


def _safe_member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    path = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise SubmissionError(f"the zip holds an absolute path ({name!r}); zip the files themselves.")
    if ".." in path.parts:
        raise SubmissionError(f"the zip holds a path with '..' ({name!r}).")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise SubmissionError(f"the zip holds a link ({name!r}); include the file itself.")
    return name


def _zip_members(path: Path, rubric: Rubric) -> dict[str, zipfile.ZipInfo]:
    """The zip's files by base name, after refusing anything unsafe or unexpected."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise SubmissionError("the file is not a valid zip archive.") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise SubmissionError(f"the zip holds {len(infos)} entries; at most {MAX_ZIP_MEMBERS} are accepted.")
        total = sum(i.file_size for i in infos)
        cap = rubric.submission.max_mb * 1024 * 1024
        if total > cap:
            raise SubmissionError(f"the zip unpacks to {total // 2**20} MB; at most {rubric.submission.max_mb} MB.")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _safe_member_name(info)
            if info.is_dir() or any(j in name for j in ZIP_JUNK):
                continue
            base = PurePosixPath(name).name
            if base in members:
                raise SubmissionError(f"the zip holds two files named {base!r}.")
            members[base] = info
    return members


def _allowed_names(rubric: Rubric) -> set[str]:
    s = rubric.submission
    return {s.notebook, *s.files, *s.optional_files}


def stage_submission(path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits) -> StagedSubmission:
    """Check ``path`` (a .ipynb or a .zip) and copy its files into ``dest`` under the rubric's names."""
    if not path.is_file():
        raise SubmissionError(f"{path.name} is not a file.")
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError(f"{path.name} is empty.")
    if size > rubric.submission.max_mb * 1024 * 1024:
        raise SubmissionError(f"{path.name} is larger than {rubric.submission.max_mb} MB.")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _stage(path, rubric, dest, limits)
    except SubmissionError:
        shutil.rmtree(dest, ignore_errors=True)  # a refused upload leaves nothing behind
        raise


def _stage(path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits) -> StagedSubmission:
    wanted = rubric.submission.notebook
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        files = _stage_zip(path, rubric, dest, limits)
    else:
        if rubric.submission.files:
            raise SubmissionError(
                f"this coursework needs a zip holding {wanted} and {', '.join(rubric.submission.files)}."
            )
        check_notebook_bytes(path.read_bytes(), path.name, limits)
        target = dest / wanted
        shutil.copyfile(path, target)
        files = {wanted: target}
    return StagedSubmission(folder=dest, notebook=files[wanted], files=files)


def _stage_zip(path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits) -> dict[str, Path]:
    members = _zip_members(path, rubric)
    allowed = _allowed_names(rubric)
    wanted = rubric.submission.notebook
    notebooks = [n for n in members if n.endswith(".ipynb")]
    if wanted not in members and len(notebooks) == 1:
        members[wanted] = members.pop(notebooks[0])  # a renamed notebook is still the notebook
    missing = [n for n in [wanted, *rubric.submission.files] if n not in members]
    extra = sorted(n for n in members if n not in allowed)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise SubmissionError(f"the zip must hold {', '.join(sorted(allowed))}: {'; '.join(parts)}.")
    files: dict[str, Path] = {}
    with zipfile.ZipFile(path) as archive:
        for name, info in members.items():
            target = dest / name
            with archive.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)
            files[name] = target
    check_notebook_bytes(files[wanted].read_bytes(), wanted, limits)
    return files
