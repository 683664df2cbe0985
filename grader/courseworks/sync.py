"""Keep the ``courseworks`` table in step with the rubric files (run at API start).

A coursework row pins a rubric version and the digests of the rubric file and its hidden suite:
a changed rubric is recorded (and audited), never silent.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.models import Coursework
from grader.rubrics.loader import CourseworkFiles, RubricError, load_coursework
from grader.scoring.lateness import to_utc
from grader.settings import Settings

log = logging.getLogger(__name__)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> str:
    """One digest of every file under a folder, names included (so a rename changes it)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_all(settings: Settings) -> dict[str, CourseworkFiles]:
    """Every usable coursework under ``settings.rubrics_dir``; broken rubrics are logged and skipped."""
    found: dict[str, CourseworkFiles] = {}
    root = settings.rubrics_dir
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if (p / "rubric.yaml").is_file()):
        try:
            found[folder.name] = load_coursework(folder.name, settings)
        except RubricError as exc:
            log.error("coursework %s not loaded: %s", folder.name, exc)
    return found


def sync_courseworks(*, session: Session, courseworks: dict[str, CourseworkFiles]) -> list[Coursework]:
    """Insert or update one row per rubric. Releases and rows of removed rubrics are kept."""
    rows = []
    for code, files in courseworks.items():
        rubric = files.rubric
        values = dict(
            title=rubric.title,
            weight=rubric.weight,
            rubric_version=rubric.version,
            rubric_digest=file_digest(files.folder / "rubric.yaml"),
            hidden_digest=tree_digest(files.hidden),
            # A tutorial's deadline is a soft one, shown from its rubric: in the gradebook it has none,
            # so nothing sent to it is late and its latest submission is the one that counts.
            deadline=to_utc(rubric.deadline, rubric.timezone) if rubric.deadline and not rubric.unassessed else None,
            timezone=rubric.timezone,
        )
        row = session.scalars(select(Coursework).where(Coursework.code == code)).first()
        if row is None:
            row = Coursework(code=code, **values)
            session.add(row)
            session.flush()
            record_event(
                session=session,
                actor_id=None,
                action="coursework.add",
                subject_type="coursework",
                subject_id=row.id,
                details={"code": code, "rubric_digest": values["rubric_digest"]},
            )
        else:
            changed = {k: str(v) for k, v in values.items() if getattr(row, k) != v}
            if changed:
                for k, v in values.items():
                    setattr(row, k, v)
                record_event(
                    session=session,
                    actor_id=None,
                    action="coursework.update",
                    subject_type="coursework",
                    subject_id=row.id,
                    details=changed,
                )
        rows.append(row)
    session.commit()
    return rows
