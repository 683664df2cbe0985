"""A submission's answer to one rubric item for the question view: its notebook read from the blob
store (the ``.ipynb`` itself, or the one inside the zip) and cut by ``grader.marking.cells``.

Blobs are content-addressed, so a (blob, notebook, title) answer never changes: the last few
hundred are kept in memory, and paging through a question reads each notebook once.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections import OrderedDict
from pathlib import PurePosixPath

from grader.blobs import BlobNotFound, BlobStore
from grader.marking.cells import Answer, find_answer

CACHED = 512
_cache: OrderedDict[tuple[str, str, str], Answer] = OrderedDict()
_lock = threading.Lock()


class Unreadable(Exception):
    pass


def answer_for(blobs: BlobStore, blob_key: str, notebook_name: str, title: str, max_bytes: int) -> Answer:
    key = (blob_key, notebook_name, title)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        notebook = json.loads(_notebook_bytes(blobs, blob_key, notebook_name, max_bytes).decode("utf-8"))
        answer = find_answer(notebook, title)
    except (Unreadable, BlobNotFound, UnicodeDecodeError, ValueError) as exc:
        return Answer(f"the notebook could not be read ({type(exc).__name__})", [])  # not cached: may be transient
    with _lock:
        _cache[key] = answer
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
    return answer


def _notebook_bytes(blobs: BlobStore, blob_key: str, notebook_name: str, max_bytes: int) -> bytes:
    with blobs.open(blob_key) as stream:
        head = stream.read(2)
        if head != b"PK":
            return _capped(head + stream.read(max_bytes), max_bytes)
        stream.seek(0)
        source = stream if stream.seekable() else io.BytesIO(stream.read())
        try:
            with zipfile.ZipFile(source) as archive:
                members = [i for i in archive.infolist() if not i.is_dir() and "__MACOSX/" not in i.filename
                           and PurePosixPath(i.filename).suffix == ".ipynb"]
                named = [i for i in members if PurePosixPath(i.filename).name == notebook_name]
                chosen = named or (members if len(members) == 1 else [])
                if not chosen:
                    raise Unreadable(f"the zip holds no {notebook_name}")
                with archive.open(chosen[0]) as member:
                    return _capped(member.read(max_bytes + 1), max_bytes)
        except zipfile.BadZipFile as exc:
            raise Unreadable(str(exc)) from None


def _capped(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise Unreadable(f"the notebook is larger than {max_bytes} bytes")
    return data
