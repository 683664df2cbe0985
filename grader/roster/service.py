"""The roster: importing students from the course system, and finding them.

Mutating functions commit before they return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.roster.models import Student


@dataclass(frozen=True)
class RosterEntry:
    external_id: str
    name: str
    email: str | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    # Students named in the import who are withdrawn: an import never reinstates anyone (that is
    # ``grader.roster.withdrawal.reinstate``, an explicit act), so they stay withdrawn; named here
    # so the caller is told rather than left to believe they are enrolled again.
    still_withdrawn: tuple[str, ...] = ()


def import_students(*, session: Session, entries: Iterable[RosterEntry], actor_id: int | None = None) -> ImportResult:
    """Add new students and update the name and email of known ones (matched by external id).
    A withdrawn student stays withdrawn (listed in ``still_withdrawn``); nobody is removed."""
    entries = list(entries)
    # One lookup for the whole import, not one query (and autoflush) per entry: a 10,000-student
    # roster took over 20 s that way.
    known = _by_external_ids(session, {e.external_id for e in entries})
    created = updated = unchanged = 0
    for entry in entries:
        student = known.get(entry.external_id)
        if student is None:
            known[entry.external_id] = Student(external_id=entry.external_id, name=entry.name, email=entry.email)
            session.add(known[entry.external_id])
            created += 1
        elif (student.name, student.email) != (entry.name, entry.email):
            student.name, student.email = entry.name, entry.email
            updated += 1
        else:
            unchanged += 1
    still_withdrawn = tuple(sorted({e.external_id for e in entries if known[e.external_id].withdrawn_at is not None}))
    session.flush()
    record_event(
        session=session,
        actor_id=actor_id,
        action="roster.import",
        subject_type="roster",
        subject_id="-",
        details={
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "still_withdrawn": len(still_withdrawn),
        },
    )
    session.commit()
    return ImportResult(created, updated, unchanged, still_withdrawn)


def _by_external_ids(session: Session, external_ids: set[str], chunk: int = 1000) -> dict[str, Student]:
    wanted, found = sorted(external_ids), {}
    for start in range(0, len(wanted), chunk):  # bounded IN lists (SQLite's parameter limit)
        rows = session.scalars(select(Student).where(Student.external_id.in_(wanted[start : start + chunk])))
        found.update({s.external_id: s for s in rows})
    return found


def student_by_external_id(*, session: Session, external_id: str) -> Student | None:
    return session.scalars(select(Student).where(Student.external_id == external_id)).first()


def student_for_user(*, session: Session, user_id: int) -> Student | None:
    return session.scalars(select(Student).where(Student.user_id == user_id)).first()


def all_students(*, session: Session) -> list[Student]:
    """Every student, withdrawn ones too, in roster order."""
    return list(session.scalars(select(Student).order_by(Student.enrolled_at, Student.id)))


def roster(*, session: Session) -> list[Student]:
    """Every enrolled student in roster order (the order they were imported)."""
    return list(
        session.scalars(select(Student).where(Student.withdrawn_at.is_(None)).order_by(Student.enrolled_at, Student.id))
    )
