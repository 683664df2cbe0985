"""The worker's handles on shared state: gradebook sessions (one engine per process), the blob
store, and the kick that starts webhook delivery."""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from grader.blobs import BlobStore, LocalBlobStore
from grader.db.engine import make_engine, session_factory
from grader.settings import Settings
from grader.webhooks.runner import kick_sender

log = logging.getLogger(__name__)

_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the gradebook; one engine per process (a forked pool child makes its own)."""
    key = (os.getpid(), settings.database_url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(settings.database_url)
    return session_factory(engine)


def blob_store(settings: Settings) -> BlobStore:
    """The worker's only way to a submission's bytes. A directory now (its own, or a shared volume);
    a remote worker plugs another ``BlobStore`` in here, nothing else changes."""
    return LocalBlobStore(settings.blob_dir)


def kick_webhooks(settings: Settings) -> None:
    """Start delivering due webhook events now (in the sender's own thread)."""
    try:
        kick_sender(sessions_for(settings), settings)
    except Exception:  # the outbox keeps the event; the sweeper's kick sends it
        log.warning("could not start webhook delivery", exc_info=True)
