"""The comment bank: comments markers keep for one rubric item of a coursework, beside the comments
already given for that item. Mutating functions commit before they return."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.db.clock import db_now
from grader.marking.models import ManualMark
from grader.marking.scale_models import CommentBankEntry

MAX_COMMENT = 5000  # as a mark's comment (MarkWrite)
MAX_USED = 50  # comments already used, most frequent first


def bank(*, session: Session, coursework_id: int, item_id: str) -> list[CommentBankEntry]:
    return list(
        session.scalars(
            select(CommentBankEntry)
            .where(CommentBankEntry.coursework_id == coursework_id, CommentBankEntry.item_id == item_id)
            .order_by(CommentBankEntry.id)
        )
    )


def used_comments(*, session: Session, coursework_id: int, item_id: str) -> list[str]:
    """Distinct non-empty comments markers gave this item, most used first."""
    count = func.count(ManualMark.id)
    rows = session.execute(
        select(ManualMark.comment, count)
        .where(ManualMark.coursework_id == coursework_id, ManualMark.item_id == item_id, ManualMark.comment != "")
        .group_by(ManualMark.comment)
        .order_by(count.desc(), ManualMark.comment)
        .limit(MAX_USED)
    )
    return [text for text, _ in rows]


def add_comment(*, session: Session, coursework_id: int, item_id: str, text: str, by_user_id: int) -> CommentBankEntry:
    """Keep a comment (an identical one already kept is returned as it is)."""
    text = text.strip()
    if not text or len(text) > MAX_COMMENT:
        raise ValueError(f"a comment is 1 to {MAX_COMMENT} characters.")
    same = next(
        (e for e in bank(session=session, coursework_id=coursework_id, item_id=item_id) if e.text == text), None
    )
    if same is not None:
        return same
    entry = CommentBankEntry(
        coursework_id=coursework_id, item_id=item_id, text=text, created_by_id=by_user_id, created_at=db_now(session)
    )
    session.add(entry)
    session.commit()
    return entry


def remove_comment(*, session: Session, coursework_id: int, item_id: str, entry_id: int) -> bool:
    """Drop a kept comment; False when it is not in this item's bank. Marks that used it keep it."""
    entry = session.get(CommentBankEntry, entry_id)
    if entry is None or entry.coursework_id != coursework_id or entry.item_id != item_id:
        return False
    session.delete(entry)
    session.commit()
    return True
