"""Content-addressed blob storage for received files. See ``base`` for the interface."""

from grader.blobs.base import (
    BadBlobKey,
    Blob,
    BlobCorrupt,
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    check_key,
    fetch,
)
from grader.blobs.local import LocalBlobStore

__all__ = [
    "Blob",
    "BlobCorrupt",
    "BlobError",
    "BlobNotFound",
    "BlobStore",
    "BlobTooLarge",
    "BadBlobKey",
    "LocalBlobStore",
    "check_key",
    "fetch",
]
