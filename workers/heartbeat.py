"""The heartbeat: a thread that keeps a grading job's lease alive, and notices when it is lost."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from grader.runs.service import Lease, renew_lease

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Renews a lease every ``lease_s / 3`` until stopped. ``lost`` is set when the gradebook
    refuses the lease (it was swept): the job's result must not be written."""

    def __init__(self, sessions: sessionmaker[Session], lease: Lease, lease_s: float):
        super().__init__(name=f"heartbeat-run-{lease.run_id}", daemon=True)
        self.sessions, self.lease, self.lease_s = sessions, lease, lease_s
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease_s / 3):
            try:
                with self.sessions() as session:
                    renewed = renew_lease(session=session, lease=self.lease, lease_s=self.lease_s)
            except Exception:  # the database is away: try again; the lease decides, not this thread
                log.warning("run %s: heartbeat failed, retrying", self.lease.run_id, exc_info=True)
                continue
            if renewed is None:
                log.error("run %s: lease lost (swept); its result will not be written", self.lease.run_id)
                self.lost.set()
                return
            self.lease = renewed

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
