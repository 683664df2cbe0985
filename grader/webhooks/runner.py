"""A worker process's webhook sender: one background thread that runs ``deliver_due`` when kicked.

The worker kicks it right after a run completes (the course system hears within seconds) and the
sweeper kicks it every interval (retries, and events whose first kick was lost). Sending happens
off the grading and sweeping threads, so a slow endpoint delays neither. Kicks while a pass is
running make one more pass, never a queue of them.
"""

from __future__ import annotations

import logging
import os
import threading

import httpx
from sqlalchemy.orm import Session, sessionmaker

from grader.settings import Settings
from grader.webhooks.delivery import deliver_due
from grader.webhooks.egress import EgressPolicy
from grader.webhooks.sealing import NoSecretKey, SecretBox

log = logging.getLogger(__name__)


class WebhookSender(threading.Thread):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        super().__init__(name="grader-webhooks", daemon=True)
        self.sessions, self.settings = sessions, settings
        self._kicked = threading.Event()
        self._stop_event = threading.Event()

    def kick(self) -> None:
        self._kicked.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._kicked.set()

    def run(self) -> None:
        try:
            box, egress = SecretBox.from_settings(self.settings), EgressPolicy.from_settings(self.settings)
        except NoSecretKey as exc:  # deliveries stay in the outbox until the service has a key
            log.error("webhooks: not sending: %s", exc)
            return
        # trust_env off: no HTTP(S)_PROXY from the environment; the request goes to the address checked.
        with httpx.Client(trust_env=False) as client:
            while True:
                self._kicked.wait()
                self._kicked.clear()
                if self._stop_event.is_set():
                    return
                try:
                    deliver_due(
                        self.sessions,
                        client,
                        box=box,
                        egress=egress,
                        timeout_s=self.settings.webhook_timeout_s,
                        max_attempts=self.settings.webhook_max_attempts,
                    )
                except Exception:  # the database is away: the next kick tries again
                    log.warning("webhooks: delivery pass failed; the next kick retries", exc_info=True)


_senders: dict[tuple[int, str], WebhookSender] = {}
_senders_lock = threading.Lock()


def kick_sender(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Wake this process's sender (started on first use; a forked pool child starts its own)."""
    key = (os.getpid(), settings.database_url)
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None or not sender.is_alive():
            sender = _senders[key] = WebhookSender(sessions, settings)
            sender.start()
    sender.kick()


def stop_senders() -> None:
    """Stop this process's senders (tests; a worker shutting down may simply exit)."""
    with _senders_lock:
        senders = [s for (pid, _), s in _senders.items() if pid == os.getpid()]
        _senders.clear()
    for sender in senders:
        sender.stop()
        sender.join(timeout=30)
