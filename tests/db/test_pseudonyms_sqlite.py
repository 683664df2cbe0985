"""Stored pseudonyms on the embedded gradebook (SQLite, as `grader up` runs it): drawn once, kept,
unique per coursework even when the random draw clashes (the savepoint redraws)."""

from __future__ import annotations

from pathlib import Path

from gradebook_factory import add_coursework, add_student
from sqlalchemy import func, select

from grader.db.engine import make_engine, session_factory
from grader.db.migrate import upgrade
from grader.marking import pseudonyms as pseudonym_module
from grader.marking.pseudonyms import pseudonyms
from grader.marking.scale_models import CandidatePseudonym


def test_sqlite_keeps_each_label_and_redraws_a_clash(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as s:
            cw = add_coursework(s)
            ids = [add_student(s).id, add_student(s).id]
            s.commit()
        with sessions() as s:
            one = pseudonyms(session=s, coursework_id=cw.id, student_ids=ids[:1])
        # As if another request stored that label after this one read the taken ones: the insert
        # clashes in the database, its savepoint rolls back, and the next draw is kept.
        draws = iter([int(one[ids[0]].split()[1]), 424242])
        monkeypatch.setattr(pseudonym_module.secrets, "randbelow", lambda _: next(draws))
        with sessions() as s:
            pseudonym_module._draw(s, cw.id, ids[1:], taken=set())
            both = pseudonyms(session=s, coursework_id=cw.id, student_ids=ids)
            assert both == {ids[0]: one[ids[0]], ids[1]: "Candidate 424242"}
            assert s.scalar(select(func.count()).select_from(CandidatePseudonym)) == 2
    finally:
        engine.dispose()
