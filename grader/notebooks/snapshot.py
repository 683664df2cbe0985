"""Which files of a repository snapshot are graded: one rule for intake and for every reader.

LabTS sends a snapshot of a commit (a zip or a tar of the whole repository), so it holds files
the rubric never asked for. A rubric that allows extra files names the exact paths that are
graded: each rubric file name at the snapshot's root. The root is the archive's top level, or the
one folder that holds every member (``git archive --prefix=repo-1a2b/`` and GitLab's archives put
everything under one). Everything else is ignored: never staged for the sandbox, listed for the
marker. Pure: member names in, a layout out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.notebooks.zip_members import ZipRefused

MAX_LISTED_CHARS = 255  # an ignored path as listed (a tar may hold far longer names)


@dataclass(frozen=True)
class Layout:
    graded: dict[str, int]  # rubric file name -> index of its member in the names given
    # The other members' paths relative to the root, in archive order: the root folder's own name
    # is left out (a repository's name often names its owner).
    ignored: list[str]


def root_prefix(names: Sequence[str]) -> str:
    """``"top/"`` when every member lies inside one folder ``top``, else ``""``."""
    firsts = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(firsts) != 1 or any(len(PurePosixPath(n).parts) < 2 for n in names):
        return ""
    return f"{firsts.pop()}/"


def relative(name: str, prefix: str) -> str:
    """A member's path relative to the snapshot's root (no leading './')."""
    path = PurePosixPath(name).as_posix()
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def snapshot_layout(names: Sequence[str], graded_names: Iterable[str]) -> Layout:
    """Split a snapshot's file members (folders and junk already set aside) into the graded files
    and the ignored ones. A graded path present twice (a tar may repeat a name) is refused: which
    copy is graded must never be a guess."""
    wanted = set(graded_names)
    prefix = root_prefix(names)
    graded: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(names):
        rel = relative(name, prefix)
        if rel not in wanted:
            ignored.append(listed(rel))
            continue
        if rel in graded:
            raise ZipRefused(f"the archive holds {rel} more than once ({names[graded[rel]]!r} and {name!r}).")
        graded[rel] = index
    return Layout(graded, ignored)


def listed(path: str, limit: int = MAX_LISTED_CHARS) -> str:
    """An ignored path as the marker reads it: printable, and no longer than ``limit``."""
    shown = "".join(c if c.isprintable() else "?" for c in path)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def root_member(names: Sequence[str], file_name: str) -> int | None:
    """The index of the member at ``file_name`` in the snapshot's root, or None. For an upload that
    is not a snapshot this is the member intake staged too (intake refuses a name held twice)."""
    prefix = root_prefix(names)
    found = [i for i, n in enumerate(names) if relative(n, prefix) == file_name]
    return found[0] if len(found) == 1 else None
