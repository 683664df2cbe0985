"""Zips crafted byte by byte for the intake and reader tests: decoys placed before the real
notebook, and members that are damaged, encrypted or packed with methods we do not unpack.

``zipfile`` writes honest zips only, so the crafted ones are written honestly and then patched in
both the local header and the central directory (the offsets are the zip specification's).
"""

from __future__ import annotations

import io
import struct
import zipfile

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"


def zipped(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An honest zip holding ``members`` in this order (names may repeat)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def _patch_headers(data: bytes, name: str, patch) -> bytes:
    """Apply ``patch(buffer, offset_of_field_block, is_central)`` to the headers of member ``name``."""
    out = bytearray(data)
    raw = name.encode()
    for signature, name_at, fields_at in ((LOCAL, 30, 6), (CENTRAL, 46, 8)):
        at = out.find(signature)
        while at != -1:
            if out[at + name_at : at + name_at + len(raw)] == raw:
                patch(out, at + fields_at, signature == CENTRAL)
            at = out.find(signature, at + 4)
    return bytes(out)


def with_flag(data: bytes, name: str, flag: int) -> bytes:
    """Set general-purpose ``flag`` bits of ``name`` (0x1: encrypted)."""

    def patch(buf, at, _):
        (flags,) = struct.unpack_from("<H", buf, at)
        struct.pack_into("<H", buf, at, flags | flag)

    return _patch_headers(data, name, patch)


def with_method(data: bytes, name: str, method: int) -> bytes:
    """Claim ``name`` is compressed with ``method`` (9: Deflate64, 98: PPMd, 77: none known)."""

    def patch(buf, at, _):
        struct.pack_into("<H", buf, at + 2, method)

    return _patch_headers(data, name, patch)


def with_crc(data: bytes, name: str, crc: int) -> bytes:
    """Give ``name`` a wrong CRC-32 (the bytes themselves intact)."""

    def patch(buf, at, _):
        struct.pack_into("<I", buf, at + 8, crc)

    return _patch_headers(data, name, patch)


def with_sizes(data: bytes, name: str, uncompressed: int) -> bytes:
    """Claim ``name`` unpacks to ``uncompressed`` bytes (a bomb that lies about its size)."""

    def patch(buf, at, _):
        struct.pack_into("<I", buf, at + 16, uncompressed)

    return _patch_headers(data, name, patch)


def truncated_member(data: bytes, name: str) -> bytes:
    """Claim twice the compressed bytes ``name`` has: reading it runs into the next header."""

    def patch(buf, at, _):
        (size,) = struct.unpack_from("<I", buf, at + 12)
        struct.pack_into("<I", buf, at + 12, size * 2 + 64)

    return _patch_headers(data, name, patch)
