"""The one blob-streaming helper: a stored blob streams back byte for byte, and a blob the store
lacks is the same 500 and sentence for every route (the service's fault, not the caller's)."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import HTTPException

from grader.blobs import LocalBlobStore
from grader.http.blob_responses import CHUNK, MISSING, open_blob, stream_blob


def _body(response) -> bytes:
    async def drain() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])

    # In a thread of its own: this process may already run an event loop (the browser tests' driver).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, drain()).result()


def test_a_stored_blob_streams_back_whole_with_its_headers(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    data = bytes(range(256)) * (CHUNK // 256 * 2 + 3)  # more than two chunks
    blob = blobs.put(io.BytesIO(data))
    response = stream_blob(blobs, blob.sha256, media_type="image/png", headers={"X-Content-SHA256": blob.sha256})
    assert response.media_type == "image/png"
    assert response.headers["x-content-sha256"] == blob.sha256
    assert _body(response) == data


@pytest.mark.parametrize("use", [open_blob, lambda blobs, key: stream_blob(blobs, key, media_type="text/html")])
def test_a_missing_blob_is_one_500_with_one_sentence(tmp_path, use, caplog):
    key = "ab" * 32
    with pytest.raises(HTTPException) as raised:
        use(LocalBlobStore(tmp_path), key)
    assert (raised.value.status_code, raised.value.detail) == (500, MISSING)
    assert key in caplog.text  # the operators learn which blob
