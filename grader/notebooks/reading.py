"""The notebook of a stored submission, as markers read it: the ``.ipynb`` itself, or the member of
the zip that ``zip_members`` says is the notebook (the one intake staged and the judge graded).

Read only, never unpacked to disk. Any zip that cannot be read (damaged, encrypted, odd methods,
stored before intake refused such zips) is ``NotebookUnreadable`` with a reason, never a crash.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

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


def notebook_from_path(path: Path, notebook_name: str, max_bytes: int) -> bytes:
    """The notebook in the submission file at ``path`` (see ``notebook_from_stream``)."""
    with path.open("rb") as fh:
        return notebook_from_stream(fh, notebook_name, max_bytes)


def notebook_from_stream(stream: BinaryIO, notebook_name: str, max_bytes: int) -> bytes:
    """The notebook in a submission read from ``stream``: its bytes, at most ``max_bytes``."""
    head = stream.read(2)
    if head != b"PK":
        data = head + stream.read(max(max_bytes - 1, 0))  # one byte more than allowed, to notice it
        if len(data) > max_bytes:
            raise NotebookUnreadable(f"the notebook is larger than {readable_size(max_bytes)}")
        return data
    source = stream if stream.seekable() else io.BytesIO(head + stream.read())
    source.seek(0)
    try:
        with open_zip(source) as archive:
            member = notebook_member(student_members(archive.infolist()), notebook_name)
            if member is None:
                raise NotebookUnreadable(f"the zip holds no {notebook_name}")
            out = io.BytesIO()
            read_member(archive, member, out, max_bytes)
            return out.getvalue()
    except ZipRefused as exc:
        raise NotebookUnreadable(str(exc)) from None
