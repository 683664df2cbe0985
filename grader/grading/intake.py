"""Check a submitted file before anything runs, and stage its files under the rubric's names.

Everything here reads untrusted bytes in the trusted process, so it only parses: JSON, nbformat's
schema, zip central directories. Nothing is unpickled or executed.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import nbformat

from grader.notebooks.snapshot import snapshot_layout
from grader.notebooks.tar_members import looks_like_tar, open_tar, read_tar_member, tar_members
from grader.notebooks.zip_members import ZipRefused, notebook_member, open_zip, read_member, student_members
from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits

MAX_ZIP_MEMBERS = 64


class SubmissionError(Exception):
    """The submitted file itself is unusable. The message is written for the student."""


@dataclass(frozen=True)
class StagedSubmission:
    folder: Path  # holds exactly the rubric's files
    notebook: Path
    files: dict[str, Path]  # every staged file by name, the notebook included
    ignored: list[str] = field(default_factory=list)  # a snapshot's extra files: not staged, listed


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
    except RecursionError:  # JSON nested thousands deep: no notebook is, and every reader would crash on it
        raise SubmissionError(f"{name} is not a Jupyter notebook (its JSON is nested too deeply).") from None
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
    except RecursionError:
        raise SubmissionError(f"{name} is not a valid Jupyter notebook (nested too deeply).") from None
    except (nbformat.ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc).splitlines()[0][:300]
        raise SubmissionError(f"{name} is not a valid Jupyter notebook: {reason}") from None
    return nb


def _zip_members(path: Path, rubric: Rubric) -> dict[str, zipfile.ZipInfo]:
    """The zip's files under the rubric's names, after refusing anything unsafe or unreadable. The
    notebook is the member ``notebook_member`` picks, as for every reader of the submission."""
    try:
        with open_zip(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise SubmissionError(f"the zip holds {len(infos)} entries; at most {MAX_ZIP_MEMBERS} are accepted.")
            total = sum(i.file_size for i in infos)
            cap = rubric.submission.max_mb * 1024 * 1024
            if total > cap:
                raise SubmissionError(f"the zip unpacks to {total // 2**20} MB; at most {rubric.submission.max_mb} MB.")
            kept = student_members(infos)
            notebook = notebook_member(kept, rubric.submission.notebook)
    except ZipRefused as exc:
        raise SubmissionError(str(exc)) from None
    members: dict[str, zipfile.ZipInfo] = {rubric.submission.notebook: notebook} if notebook else {}
    for info in kept:
        if info is notebook:
            continue
        base = PurePosixPath(info.filename).name
        if base in members:
            raise SubmissionError(
                f"the zip holds two files named {base!r}: {members[base].filename!r} and {info.filename!r}."
            )
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
        head = fh.read(512)
    ignored: list[str] = []
    if head.startswith(b"PK") and rubric.submission.allow_extra_files:
        files, ignored = _stage_zip_snapshot(path, rubric, dest, limits)
    elif head.startswith(b"PK"):
        files = _stage_zip(path, rubric, dest, limits)
    elif looks_like_tar(head):
        files, ignored = _stage_tar(path, rubric, dest, limits)
    else:
        if rubric.submission.files:
            raise SubmissionError(
                f"this coursework needs a zip holding {wanted} and {', '.join(rubric.submission.files)}."
            )
        check_notebook_bytes(path.read_bytes(), path.name, limits)
        target = dest / wanted
        shutil.copyfile(path, target)
        files = {wanted: target}
    return StagedSubmission(folder=dest, notebook=files[wanted], files=files, ignored=ignored)


def _stage_zip(path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits) -> dict[str, Path]:
    members = _zip_members(path, rubric)
    allowed = _allowed_names(rubric)
    wanted = rubric.submission.notebook
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
    budget = rubric.submission.max_mb * 1024 * 1024  # declared sizes were checked; this holds if they lie
    try:
        with open_zip(path) as archive:
            for name, info in members.items():
                target = dest / name
                with target.open("wb") as out:
                    budget -= read_member(archive, info, out, budget)
                files[name] = target
    except ZipRefused as exc:
        raise SubmissionError(str(exc)) from None
    check_notebook_bytes(files[wanted].read_bytes(), wanted, limits)
    return files


# How to copy one archive member into a file, within a byte budget; returns the bytes copied.
Copier = Callable[[BinaryIO, int], int]


def _stage_zip_snapshot(
    path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits
) -> tuple[dict[str, Path], list[str]]:
    """A zip snapshot (``allow_extra_files``): the rubric's files at the snapshot's root, staged; the
    rest listed, never unpacked. Member count and sizes are checked as for any zip."""
    cap = rubric.submission.max_mb * 1024 * 1024
    try:
        with open_zip(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise SubmissionError(f"the zip holds {len(infos)} entries; at most {MAX_ZIP_MEMBERS} are accepted.")
            total = sum(i.file_size for i in infos)
            if total > cap:
                raise SubmissionError(f"the zip unpacks to {total // 2**20} MB; at most {rubric.submission.max_mb} MB.")
            kept = student_members(infos)
            layout = snapshot_layout([i.filename for i in kept], _allowed_names(rubric))
            _require(rubric, layout.graded)
            copiers: dict[str, Copier] = {
                name: partial(read_member, archive, kept[i]) for name, i in layout.graded.items()
            }
            files = _copy_members(copiers, dest, cap)
    except ZipRefused as exc:
        raise SubmissionError(str(exc)) from None
    _check_staged(rubric, files, limits)
    return files, layout.ignored


def _stage_tar(path: Path, rubric: Rubric, dest: Path, limits: ExecutionLimits) -> tuple[dict[str, Path], list[str]]:
    """A tar (a repository snapshot), plain or compressed: the rubric's files at the snapshot's
    root. Without ``allow_extra_files`` any other file is refused, as in a zip."""
    cap = rubric.submission.max_mb * 1024 * 1024
    try:
        with path.open("rb") as fh, open_tar(fh) as archive:
            kept = tar_members(archive, MAX_ZIP_MEMBERS, cap)
            layout = snapshot_layout([i.name for i in kept], _allowed_names(rubric))
            _require(rubric, layout.graded)
            if layout.ignored and not rubric.submission.allow_extra_files:
                allowed = ", ".join(sorted(_allowed_names(rubric)))
                raise SubmissionError(f"the archive must hold {allowed}: unexpected {', '.join(layout.ignored[:10])}.")
            copiers: dict[str, Copier] = {
                name: partial(read_tar_member, archive, kept[i]) for name, i in layout.graded.items()
            }
            files = _copy_members(copiers, dest, cap)
    except ZipRefused as exc:
        raise SubmissionError(str(exc)) from None
    _check_staged(rubric, files, limits)
    return files, layout.ignored


def _require(rubric: Rubric, graded: dict[str, int]) -> None:
    missing = [n for n in [rubric.submission.notebook, *rubric.submission.files] if n not in graded]
    if missing:
        raise SubmissionError(
            f"the snapshot must hold {', '.join(missing)} at its top level (or in the one folder that holds "
            "everything); files elsewhere are not graded."
        )


def _copy_members(copiers: dict[str, Copier], dest: Path, budget: int) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name, copy in copiers.items():
        target = dest / name
        with target.open("wb") as out:
            budget -= copy(out, budget)
        files[name] = target
    return files


def _check_staged(rubric: Rubric, files: dict[str, Path], limits: ExecutionLimits) -> None:
    wanted = rubric.submission.notebook
    check_notebook_bytes(files[wanted].read_bytes(), wanted, limits)
