"""The notebook of a stored submission, as markers read it: the ``.ipynb`` itself, or the member of
the zip that ``zip_members`` says is the notebook (the one intake staged and the judge graded).

Read only, never unpacked to disk. Any zip that cannot be read (damaged, encrypted, odd methods,
stored before intake refused such zips) is ``NotebookUnreadable`` with a reason, never a crash.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from grader.notebooks.snapshot import root_member
from grader.notebooks.tar_members import looks_like_tar, open_tar, read_tar_member, tar_members
from grader.notebooks.zip_members import (
    ZipRefused,
    notebook_member,
    open_zip,
    read_member,
    readable_size,
    student_members,
)


class NotebookUnreadable(Exception):
    """The submission holds no notebook a marker can be shown. The message says why."""


def notebook_from_path(path: Path, notebook_name: str, max_bytes: int, *, snapshot: bool = False) -> bytes:
    """The notebook in the submission file at ``path`` (see ``notebook_from_stream``)."""
    with path.open("rb") as fh:
        return notebook_from_stream(fh, notebook_name, max_bytes, snapshot=snapshot)


def notebook_from_stream(stream: BinaryIO, notebook_name: str, max_bytes: int, *, snapshot: bool = False) -> bytes:
    """The notebook in a submission read from ``stream``: its bytes, at most ``max_bytes``.
    ``snapshot``: the rubric allows extra files, so a zip's notebook is the one at the snapshot's
    root (``grader.notebooks.snapshot``), as intake staged it; a tar's always is."""
    head = stream.read(512)
    if head[:2] != b"PK" and not looks_like_tar(head):
        data = head[: max_bytes + 1] + stream.read(max(max_bytes + 1 - len(head), 0))  # one byte more, to notice it
        if len(data) > max_bytes:
            raise NotebookUnreadable(f"the notebook is larger than {readable_size(max_bytes)}")
        return data
    source = stream if stream.seekable() else io.BytesIO(head + stream.read())
    source.seek(0)
    if head[:2] != b"PK":
        return _from_tar(source, notebook_name, max_bytes)
    try:
        with open_zip(source) as archive:
            kept = student_members(archive.infolist())
            if snapshot:
                at_root = root_member([m.filename for m in kept], notebook_name)
                member = kept[at_root] if at_root is not None else None
            else:
                member = notebook_member(kept, notebook_name)
            if member is None:
                raise NotebookUnreadable(f"the zip holds no {notebook_name}")
            out = io.BytesIO()
            read_member(archive, member, out, max_bytes)
            return out.getvalue()
    except ZipRefused as exc:
        raise NotebookUnreadable(str(exc)) from None


def _from_tar(source: BinaryIO, notebook_name: str, max_bytes: int) -> bytes:
    """The notebook at the root of a tar snapshot (as intake staged it)."""
    try:
        with open_tar(source) as archive:
            kept = tar_members(archive, 10_000, 1 << 40)  # intake enforced the limits when it was received
            at_root = root_member([m.name for m in kept], notebook_name)
            if at_root is None:
                raise NotebookUnreadable(f"the archive holds no {notebook_name} at its top level")
            out = io.BytesIO()
            read_tar_member(archive, kept[at_root], out, max_bytes)
            return out.getvalue()
    except ZipRefused as exc:
        raise NotebookUnreadable(str(exc)) from None
