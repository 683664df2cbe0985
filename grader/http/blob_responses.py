"""Stored blobs as HTTP responses: one way to open a blob for a route and stream it out in chunks,
and one error when it is not in the store.

A blob that a row names but the store lacks is the service's fault, never the caller's: every
route answers 500 with the same sentence, and the log names the key for the operators.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

from grader.blobs import BlobNotFound, BlobStore
from grader.blobs.base import CHUNK

log = logging.getLogger(__name__)
MISSING = "the stored file is missing; the service's operators have been told."


def open_blob(blobs: BlobStore, key: str) -> BinaryIO:
    """The blob's stream (the caller closes it), or the one 500 for a blob the store lacks."""
    try:
        return blobs.open(key)
    except BlobNotFound:
        log.error("blob %s is named by the gradebook but missing from the blob store", key)
        raise HTTPException(500, MISSING) from None


def stream_blob(
    blobs: BlobStore, key: str, *, media_type: str, headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    """A response streaming the blob in chunks; opened first, so a missing blob is an error status,
    not a broken body."""
    stream = open_blob(blobs, key)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers=dict(headers or {}))
