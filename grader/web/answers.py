"""A submission's answer to one rubric item for the question view: its notebook read from the blob
store (the ``.ipynb`` itself, or the zip member intake graded: ``grader.notebooks.reading``) and cut
by ``grader.marking.cells``.

Blobs are content-addressed, so a (blob, notebook, title) answer never changes: the last few
hundred are kept in memory, and paging through a question reads each notebook once.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from grader.blobs import BlobNotFound, BlobStore
from grader.marking.cells import Answer, find_answer
from grader.notebooks.reading import NotebookUnreadable, notebook_from_stream

CACHED = 512
_cache: OrderedDict[tuple[str, str, str], Answer] = OrderedDict()
_lock = threading.Lock()


def answer_for(
    blobs: BlobStore, blob_key: str, notebook_name: str, title: str, max_bytes: int, *, snapshot: bool = False
) -> Answer:
    key = (blob_key, notebook_name, title)  # a blob is a snapshot or not whatever the reader
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        with blobs.open(blob_key) as stream:
            data = notebook_from_stream(stream, notebook_name, max_bytes, snapshot=snapshot)
        answer = find_answer(json.loads(data.decode("utf-8")), title)
    except (NotebookUnreadable, BlobNotFound, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, NotebookUnreadable) else type(exc).__name__
        return Answer(f"the notebook could not be read: {reason}", [])  # not cached: may be transient
    with _lock:
        _cache[key] = answer
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
    return answer
