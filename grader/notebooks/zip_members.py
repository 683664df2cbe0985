"""Which member of a submitted zip is which file: one rule for every reader.

Intake (which stages the files that are graded and hashed for duplicate detection), the renderer
of the notebook markers read, the question view and the markers' download all choose the notebook
here, so what a GTA reads is exactly what was graded. The rule:

- junk is set aside first: anything under a ``__MACOSX/`` or ``.ipynb_checkpoints/`` folder, and
  ``.DS_Store`` files (what Finder and Jupyter add to an honest zip);
- the notebook is the one member whose file name is the rubric's (at any folder depth); two such
  members are refused, naming both, rather than guessing which one the student meant;
- with no member of that name, a zip holding exactly one notebook is that notebook (renamed).

Every member that is read must be plainly readable: not encrypted, stored with a method this
service unpacks, and intact (its CRC is checked as it is read); and the zip's directory must be
small enough to parse. Files and ``zipfile`` objects in, members or bytes out; no database, no
framework.
"""

from __future__ import annotations

import lzma
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

JUNK_FOLDERS = frozenset({"__MACOSX", ".ipynb_checkpoints"})
JUNK_FILES = frozenset({".DS_Store"})
# What Python's zipfile unpacks; anything else (Deflate64, PPMd, AES, ...) is refused by name.
READABLE_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
ENCRYPTED_FLAG = 0x1
# What unpacking a damaged or crafted member raises, whatever its compression method.
UNPACK_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
)
OPEN_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError)
# A submission holds a few files: 64 entries with long names fit in well under this.
MAX_DIRECTORY_BYTES = 1 << 20
END_RECORD, ZIP64_LOCATOR, ZIP64_END_RECORD = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
END_RECORD_SEARCH = 22 + 0xFFFF  # the end record and the longest zip comment


class ZipRefused(Exception):
    """The zip cannot be used as it is. The message is written for the student."""


def open_zip(source: Path | BinaryIO) -> zipfile.ZipFile:
    """``zipfile.ZipFile(source)``, with a crafted or truncated central directory refused plainly.

    ``zipfile`` parses the whole central directory when it opens, whatever the entry count says (a
    200 MB upload can list two million empty files: a minute and gigabytes in the API process), so
    its size is read from the end record first and a directory over ``MAX_DIRECTORY_BYTES`` refused.
    """
    try:
        if isinstance(source, Path):
            with source.open("rb") as fh:
                size = directory_size(fh)
        else:
            size = directory_size(source)
            source.seek(0)
        if size is not None and size > MAX_DIRECTORY_BYTES:
            raise ZipRefused(
                f"the zip lists far too many files (its directory is {readable_size(size)}); "
                "a submission holds a few files."
            )
        return zipfile.ZipFile(source)
    except OPEN_ERRORS:
        raise ZipRefused("the file is not a valid zip archive.") from None


def directory_size(fh: BinaryIO) -> int | None:
    """The central directory's size in bytes as the zip's end record states it (Zip64 included),
    found as ``zipfile`` finds it (the last end-record signature); None when there is none."""
    fh.seek(0, 2)
    length = fh.tell()
    fh.seek(max(0, length - END_RECORD_SEARCH))
    tail = fh.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < 22:
        return None
    (size,) = struct.unpack_from("<I", tail, at + 12)
    locator = at - 20
    if size == 0xFFFFFFFF and locator >= 0 and tail[locator : locator + 4] == ZIP64_LOCATOR:
        (record_at,) = struct.unpack_from("<Q", tail, locator + 8)
        fh.seek(record_at)
        record = fh.read(56)
        if len(record) == 56 and record[:4] == ZIP64_END_RECORD:
            (size,) = struct.unpack_from("<Q", record, 40)
    return size


def is_junk(name: str) -> bool:
    """True for what zip tools and Jupyter add beside a student's files (never graded or shown)."""
    parts = PurePosixPath(name).parts
    return bool(parts) and (any(p in JUNK_FOLDERS for p in parts[:-1]) or parts[-1] in JUNK_FILES)


def check_safe_path(info: zipfile.ZipInfo) -> None:
    """Refuse a member whose path could escape the folder it is unpacked into, or a link."""
    name = info.filename
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ZipRefused(f"the zip holds an absolute path ({name!r}); zip the files themselves.")
    if ".." in PurePosixPath(name).parts:
        raise ZipRefused(f"the zip holds a path with '..' ({name!r}).")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ZipRefused(f"the zip holds a link ({name!r}); include the file itself.")


def check_readable(info: zipfile.ZipInfo) -> None:
    """Refuse a member that is encrypted or packed with a method this service does not unpack."""
    if info.flag_bits & ENCRYPTED_FLAG:
        raise ZipRefused(
            f"{info.filename!r} in the zip is encrypted (password-protected); zip the files again without a password."
        )
    if info.compress_type not in READABLE_METHODS:
        names = zipfile.compressor_names  # type: ignore[attr-defined]  # undocumented in zipfile, so absent from typeshed
        method = names.get(info.compress_type, f"method {info.compress_type}")
        raise ZipRefused(
            f"{info.filename!r} in the zip is compressed with {method}, which is not accepted; "
            "zip the files again with ordinary (deflate) compression."
        )


def student_members(infos: Iterable[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The zip's files that are the student's: every path checked for safety, folders and junk set
    aside, and each remaining member checked to be readable. Order as in the zip."""
    kept = []
    for info in infos:
        check_safe_path(info)
        if info.is_dir() or is_junk(info.filename):
            continue
        check_readable(info)
        kept.append(info)
    return kept


def notebook_member(members: list[zipfile.ZipInfo], notebook_name: str) -> zipfile.ZipInfo | None:
    """The member that is the notebook (see the module's rule), or None when there is none.

    ``members`` are ``student_members``'s. Two members named ``notebook_name`` are refused, naming both.
    """
    named = [m for m in members if PurePosixPath(m.filename).name == notebook_name]
    if len(named) > 1:
        listed = " and ".join(repr(m.filename) for m in named[:2])
        more = f" (and {len(named) - 2} more)" if len(named) > 2 else ""
        raise ZipRefused(
            f"the zip holds {notebook_name} more than once: {listed}{more}. "
            f"Keep only the {notebook_name} to be graded and zip the files again."
        )
    if named:
        return named[0]
    notebooks = [m for m in members if PurePosixPath(m.filename).suffix == ".ipynb"]
    return notebooks[0] if len(notebooks) == 1 else None


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, max_bytes: int) -> int:
    """Unpack ``info`` into ``out`` (at most ``max_bytes``; its CRC checked); returns the size.
    A damaged member is refused with its name; one larger than ``max_bytes`` too. Only unpacking is
    the student's fault: a failing ``out.write`` (a full disk) is ours and propagates as it is."""
    with _unpacking(info):
        src = archive.open(info)  # by ZipInfo: a repeated name must not pick another member
    with src:
        return copy_capped(
            src,
            out,
            max_bytes,
            too_big=f"{info.filename!r} in the zip unpacks to more than {readable_size(max_bytes)}.",
            unpacking=lambda: _unpacking(info),
        )


def copy_capped(
    src: IO[bytes],
    out: BinaryIO,
    max_bytes: int,
    *,
    too_big: str,
    unpacking: Callable[[], AbstractContextManager[None]],
) -> int:
    """Copy an archive member's bytes in 1 MiB chunks, refused with ``too_big`` past ``max_bytes``
    (a header may lie about the size); each read inside ``unpacking``, which turns the archive's
    own errors into a refusal naming the member. Returns the size."""
    size = 0
    while True:
        with unpacking():
            chunk = src.read(1 << 20)
        if not chunk:
            return size
        size += len(chunk)
        if size > max_bytes:
            raise ZipRefused(too_big)
        out.write(chunk)


@contextmanager
def _unpacking(info: zipfile.ZipInfo) -> Iterator[None]:
    try:
        yield
    except UNPACK_ERRORS as exc:
        raise ZipRefused(
            f"{info.filename!r} in the zip is damaged and cannot be unpacked "
            f"({type(exc).__name__}); zip the files again."
        ) from None


def readable_size(n: int) -> str:
    """``n`` bytes for a message: whole MB from 1 MB up, else bytes."""
    return f"{n // 2**20} MB" if n >= 2**20 else f"{n} bytes"
