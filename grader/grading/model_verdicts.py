"""The pre-check's verdict on a model file, kept in the gradebook by (sha256, verdict version) so that
the same bytes are never inspected twice (``grader.grading.precheck.VerdictCache``).

Why reusing one is safe: the loader reads only the file's bytes (no student code runs, nothing of the
submission around it matters), so the same bytes under the same loader script, in the same runtime,
under the same pre-check limits (all folded into the version) give the same verdict. Only verdicts the
loader itself reported are kept, never "the sandbox killed it" nor failures of the machine
(``precheck.reusable``). What is kept is what the pre-check already shows the student who uploaded
those bytes (docs/security.md): a student who uploads the same bytes learns nothing new from it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping

from sqlalchemy import BigInteger, Boolean, String, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from grader.db.base import Base
from grader.db.types import UTCDateTime, utcnow
from grader.grading.precheck import ModelCheck

log = logging.getLogger(__name__)


class ModelVerdict(Base):
    __tablename__ = "model_verdicts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)  # precheck.verdict_version
    loads: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(32))
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    tensors: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GradebookVerdicts:
    """``VerdictCache`` on the gradebook. ``loader_version``: the loader script and the runtime it runs
    in (the worker side computes it: ``workers.precheck_sandbox.loader_version``)."""

    def __init__(self, sessions: sessionmaker[Session], loader_version: str):
        self.sessions = sessions
        self.loader_version = loader_version

    def recall(self, version: str, digests: Collection[str]) -> dict[str, ModelCheck]:
        if not digests:
            return {}
        with self.sessions() as session:
            rows = session.scalars(
                select(ModelVerdict).where(ModelVerdict.version == version, ModelVerdict.sha256.in_(list(digests)))
            )
            return {
                row.sha256: ModelCheck(
                    name="",
                    loads=row.loads,
                    kind=row.kind,
                    parameters=row.parameters,
                    tensors=row.tensors,
                    error=row.error,
                )
                for row in rows
            }

    def remember(self, version: str, verdicts: Mapping[str, ModelCheck]) -> None:
        """Keep each verdict; one already kept (another worker's, for the same bytes) stays as it is."""
        if not verdicts:
            return
        with self.sessions() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            rows = [
                {
                    "sha256": digest,
                    "version": version,
                    "loads": check.loads,
                    "kind": check.kind,
                    "parameters": check.parameters,
                    "tensors": check.tensors,
                    "error": check.error,
                    "created_at": utcnow(),
                }
                for digest, check in verdicts.items()
            ]
            session.execute(insert(ModelVerdict).values(rows).on_conflict_do_nothing())
            session.commit()
