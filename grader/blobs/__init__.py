"""Content-addressed blob storage for received files. See ``base`` for the interface."""

from grader.blobs.base import (
    Blob,
    BlobCorrupt,
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    BadBlobKey,
    check_key,
    fetch,
)
from grader.blobs.local import LocalBlobStore

__all__ = ["Blob", "BlobCorrupt", "BlobError", "BlobNotFound", "BlobStore", "BlobTooLarge", "BadBlobKey",
           "LocalBlobStore", "check_key", "fetch"]
