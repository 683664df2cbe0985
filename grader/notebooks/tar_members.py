"""Reading a submitted tar (plain or compressed: a LabTS repository snapshot) as safely as a zip.

The same refusals as ``zip_members``, for tar's own ways to attack: absolute paths and '..',
symbolic and hard links, devices, FIFOs and other special members, more members than allowed, and
declared sizes past the limit (a tar.gz bomb: a small upload that unpacks to gigabytes). Members
are counted and sized while the headers are read, so an archive is refused before its data is.
Each member's data is read with a byte budget too, should a header lie. Nothing is extracted by
``tarfile`` itself; bytes are copied out member by member.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import BinaryIO

from grader.notebooks.zip_members import ZipRefused, copy_capped, is_junk, readable_size

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
USTAR_AT = 257  # "ustar" in a POSIX or GNU tar header
TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)


def looks_like_tar(head: bytes) -> bool:
    """True for a compressed stream (gzip, bzip2, xz: only a tar is accepted inside) or a tar header."""
    return head.startswith((GZIP_MAGIC, BZIP2_MAGIC, XZ_MAGIC)) or head[USTAR_AT : USTAR_AT + 5] == b"ustar"


@contextmanager
def open_tar(source: BinaryIO) -> Iterator[tarfile.TarFile]:
    """The tar in ``source``; a damaged one is refused plainly."""
    try:
        archive = tarfile.open(fileobj=source, mode="r:*")
    except TAR_ERRORS:
        raise ZipRefused("the file is not a valid tar archive.") from None
    try:
        yield archive
    finally:
        archive.close()


def check_safe_tar_path(info: tarfile.TarInfo) -> None:
    name = info.name
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ZipRefused(f"the archive holds an absolute path ({name!r}).")
    if ".." in PurePosixPath(name).parts:
        raise ZipRefused(f"the archive holds a path with '..' ({name!r}).")
    if info.issym() or info.islnk():
        raise ZipRefused(f"the archive holds a link ({name!r}); include the file itself.")
    if not (info.isreg() or info.isdir()):
        raise ZipRefused(f"the archive holds {name!r}, which is neither a file nor a folder (a device or FIFO).")


def tar_members(archive: tarfile.TarFile, max_members: int, max_bytes: int) -> list[tarfile.TarInfo]:
    """The tar's files that are the student's (folders and junk set aside), every member checked as
    its header is read: at most ``max_members`` entries, at most ``max_bytes`` declared in all."""
    kept, count, total = [], 0, 0
    try:
        for info in archive:
            count += 1
            if count > max_members:
                raise ZipRefused(
                    f"the archive holds more than {max_members} entries; at most {max_members} are accepted."
                )
            check_safe_tar_path(info)
            total += max(info.size, 0)
            if total > max_bytes:
                raise ZipRefused(f"the archive unpacks to more than {readable_size(max_bytes)}.")
            if info.isdir() or is_junk(info.name):
                continue
            kept.append(info)
    except TAR_ERRORS as exc:
        raise ZipRefused(f"the tar archive is damaged and cannot be read ({type(exc).__name__}).") from None
    return kept


def read_tar_member(archive: tarfile.TarFile, info: tarfile.TarInfo, out: BinaryIO, max_bytes: int) -> int:
    """Copy ``info``'s bytes into ``out`` (at most ``max_bytes``); returns the size. Only unpacking
    is the student's fault: a failing ``out.write`` (a full disk) is ours and propagates."""
    with _unpacking(info):
        src = archive.extractfile(info)
    if src is None:
        raise ZipRefused(f"{info.name!r} in the archive is not a file.")
    with src:
        return copy_capped(
            src,
            out,
            max_bytes,
            too_big=f"{info.name!r} in the archive unpacks to more than {readable_size(max_bytes)}.",
            unpacking=lambda: _unpacking(info),
        )


@contextmanager
def _unpacking(info: tarfile.TarInfo) -> Iterator[None]:
    try:
        yield
    except TAR_ERRORS as exc:
        raise ZipRefused(
            f"{info.name!r} in the archive is damaged and cannot be unpacked ({type(exc).__name__})."
        ) from None
