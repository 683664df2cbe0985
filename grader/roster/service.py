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


def import_students(*, session: Session, entries: Iterable[RosterEntry], actor_id: int | None = None) -> ImportResult:
    """Add new students and update the name and email of known ones (matched by external id)."""
    created = updated = unchanged = 0
    for entry in entries:
        student = student_by_external_id(session=session, external_id=entry.external_id)
        if student is None:
            session.add(Student(external_id=entry.external_id, name=entry.name, email=entry.email))
            created += 1
        elif (student.name, student.email) != (entry.name, entry.email):
            student.name, student.email = entry.name, entry.email
            updated += 1
        else:
            unchanged += 1
    session.flush()
    record_event(session=session, actor_id=actor_id, action="roster.import", subject_type="roster", subject_id="-",
                 details={"created": created, "updated": updated, "unchanged": unchanged})
    session.commit()
    return ImportResult(created, updated, unchanged)


def student_by_external_id(*, session: Session, external_id: str) -> Student | None:
    return session.scalars(select(Student).where(Student.external_id == external_id)).first()


def student_for_user(*, session: Session, user_id: int) -> Student | None:
    return session.scalars(select(Student).where(Student.user_id == user_id)).first()


def roster(*, session: Session) -> list[Student]:
    """Every enrolled student in roster order (the order they were imported)."""
    return list(session.scalars(select(Student).where(Student.withdrawn_at.is_(None))
                                .order_by(Student.enrolled_at, Student.id)))
