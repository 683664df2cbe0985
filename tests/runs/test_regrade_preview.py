"""A regrade preview on a fixed suite: its runs are staged (nobody sees them), the lecturer reads who
would change and by how much, and only applying makes the new marks current, the old runs kept.
Runs are completed through the worker's own functions (``claim_run``, ``complete_run``), not graded."""

from __future__ import annotations

import datetime as dt

import pytest
from gradebook_factory import DEADLINE, RUBRIC, TESTS, add_coursework, add_student, add_user, graded_report, submit
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit.models import AuditEvent
from grader.marking.models import MarkKind
from grader.marking.progress import coursework_progress
from grader.marking.service import set_mark
from grader.marking.sheet import marks_of_submission, submission_runs
from grader.runs.models import GradingRun, RunStatus
from grader.runs.preview_models import PreviewStatus, RegradePreview
from grader.runs.service import claim_run, complete_run, enqueue_run, fail_run, latest_graded_run
from grader.scoring.auto import auto_marks
from grader.scoring.outcomes import TestOutcome, TestResult
from grader.submissions import regrade_preview as rp
from grader.users.models import Role
from grader.webhooks.service import run_event_type

M = dt.timedelta(minutes=1)
NEW_SUITE = "b" * 64
# The fixed suite: pool now passes (+2 points); conv and the penalty's test as before.
FIXED = {**TESTS, "test_a.py::test_pool": TestResult(TestOutcome.passed, 1.0)}


class Wakes:
    def __init__(self) -> None:
        self.woken: list[int] = []

    def wake(self, run_id: int, queue: str) -> None:
        self.woken.append(run_id)


def finish(session: Session, run_id: int, tests=TESTS, hidden: str | None = None, rubric: str | None = None) -> None:
    """Complete a queued run as a worker would, with these test results and digests."""
    lease = claim_run(session=session, run_id=run_id, worker_id="w1")
    assert lease is not None
    report = graded_report()
    report.marks = auto_marks(RUBRIC, tests)
    status = complete_run(
        session=session, lease=lease, report=report, tests=tests, hidden_digest=hidden, rubric_digest=rubric
    )
    assert status is RunStatus.graded


def graded_submission(session: Session, cw, student):
    sub = submit(session, student, cw, DEADLINE - 10 * M)
    finish(session, enqueue_run(session=session, submission_id=sub.id).id, hidden=cw.hidden_digest)
    return sub


@pytest.fixture
def term(session: Session):
    """A coursework with three graded students (4 of 6 auto points each) and a lecturer."""
    cw = add_coursework(session)
    students = [add_student(session) for _ in range(3)]
    subs = [graded_submission(session, cw, s) for s in students]
    lecturer = add_user(session, Role.lecturer)
    return cw, students, subs, lecturer


def start(session: Session, cw, lecturer, wakes: Wakes | None = None, hidden: str = NEW_SUITE):
    return rp.start_preview(
        session=session,
        coursework=cw,
        rubric=RUBRIC,
        digests=rp.SuiteDigests(hidden, cw.rubric_digest),
        lecturer_id=lecturer.id,
        queue="cpu",
        run_queue=wakes or Wakes(),
    )


def staged_runs(session: Session, preview) -> dict:
    runs = session.scalars(select(GradingRun).where(GradingRun.preview_id == preview.id)).all()
    return {r.submission_id: r for r in runs}


def total(session: Session, sub) -> float:
    return marks_of_submission(session=session, rubric=RUBRIC, sub=sub).total.total


def test_a_preview_stages_one_run_per_counting_submission_and_nobody_sees_them(session, term):
    cw, students, subs, lecturer = term
    nobody = add_student(session)  # enrolled, never submitted: no run
    wakes = Wakes()
    preview = start(session, cw, lecturer, wakes)
    runs = staged_runs(session, preview)
    assert set(runs) == {s.id for s in subs} and nobody.id not in {s.student_id for s in subs}
    assert sorted(wakes.woken) == sorted(r.id for r in runs.values())
    assert all(r.staged and r.priority == rp.PREVIEW_PRIORITY for r in runs.values())

    for sub in subs:
        finish(session, runs[sub.id].id, FIXED, hidden=NEW_SUITE, rubric=cw.rubric_digest)
    for sub in subs:  # graded, but stands for nothing yet
        assert latest_graded_run(session=session, submission_id=sub.id).id != runs[sub.id].id
        assert runs[sub.id].id not in [r.id for r in submission_runs(session=session, submission_id=sub.id)]
        assert total(session, sub) == 4
        staged = session.get(GradingRun, runs[sub.id].id, populate_existing=True)
        assert staged.status is RunStatus.graded and run_event_type(staged) is None  # no webhook either
    assert coursework_progress(session=session, coursework_id=cw.id).counts == {"graded": 3}


def test_the_report_lists_who_changes_and_by_how_much_and_apply_makes_it_current(session, term):
    cw, students, subs, lecturer = term
    a, b, c = subs
    # A marker's manual mark for a, and an override of pool for b: both survive the regrade.
    set_mark(
        session=session,
        student_id=a.student_id,
        coursework_id=cw.id,
        item_id="disc",
        score=3,
        by_user_id=lecturer.id,
        expected_version=None,
        submission_id=a.id,
    )
    set_mark(
        session=session,
        student_id=b.student_id,
        coursework_id=cw.id,
        item_id="pool",
        score=1,
        by_user_id=lecturer.id,
        expected_version=None,
        submission_id=b.id,
        kind=MarkKind.override,
    )
    session.commit()
    preview = start(session, cw, lecturer)
    runs = staged_runs(session, preview)
    finish(session, runs[a.id].id, FIXED, hidden=NEW_SUITE, rubric=cw.rubric_digest)
    finish(session, runs[b.id].id, FIXED, hidden=NEW_SUITE, rubric=cw.rubric_digest)

    report = rp.preview_report(session=session, preview=preview, rubric=RUBRIC)
    by_sub = {r.submission_id: r for r in report.rows}
    assert by_sub[a.id].state == "changed"
    assert (by_sub[a.id].diff.old, by_sub[a.id].diff.new, by_sub[a.id].diff.delta) == (7, 9, 2)
    assert [(i.id, i.old, i.new) for i in by_sub[a.id].diff.items] == [("pool", 0, 2)]
    assert by_sub[b.id].state == "unchanged"  # the override stands over the new run's pool
    assert by_sub[c.id].state == "waiting"
    current = rp.SuiteDigests(NEW_SUITE, cw.rubric_digest)
    with pytest.raises(rp.PreviewConflict, match="1 of the preview's runs have not finished"):
        rp.apply_preview(session=session, preview=preview, rubric=RUBRIC, current=current, lecturer_id=lecturer.id)

    # c's staged run fails for good: c keeps the current mark.
    lease = claim_run(session=session, run_id=runs[c.id].id, worker_id="w1")
    assert fail_run(session=session, lease=lease, error="judge died", max_attempts=1) is RunStatus.error
    report = rp.preview_report(session=session, preview=preview, rubric=RUBRIC)
    assert report.counts == {"changed": 1, "unchanged": 1, "failed": 1}

    old_a = latest_graded_run(session=session, submission_id=a.id).id
    rp.apply_preview(session=session, preview=preview, rubric=RUBRIC, current=current, lecturer_id=lecturer.id)
    session.expire_all()
    assert latest_graded_run(session=session, submission_id=a.id).id == runs[a.id].id
    assert total(session, a) == 9 and total(session, b) == 5 and total(session, c) == 4
    assert latest_graded_run(session=session, submission_id=c.id).id != runs[c.id].id
    history = [r.id for r in submission_runs(session=session, submission_id=a.id)]
    assert runs[a.id].id in history and old_a in history  # the old run kept
    assert session.get(GradingRun, runs[c.id].id).staged  # a failed staged run never becomes current
    assert preview.status is PreviewStatus.applied and preview.decided_by_id == lecturer.id
    events = {e.action: e for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("%regrade%"))).all()}
    applied = events["regrade_preview.apply"]
    assert applied.actor_id == lecturer.id and applied.details["hidden_digest"] == NEW_SUITE
    assert applied.details["rubric_digest"] == cw.rubric_digest
    assert [(ch["old_total"], ch["new_total"]) for ch in applied.details["changes"]] == [(7, 9)]
    assert events["submission.regrade_applied"].subject_id == str(a.id)
    after = {r.submission_id: r for r in rp.preview_report(session=session, preview=preview, rubric=RUBRIC).rows}
    assert [after[s.id].state for s in subs] == ["changed", "unchanged", "failed"]  # as applied, not recomputed
    assert (after[a.id].diff.old, after[a.id].diff.new, after[a.id].diff.items[0].kind) == (7, 9, "item")
    with pytest.raises(rp.PreviewConflict, match="applied already"):
        rp.apply_preview(session=session, preview=preview, rubric=RUBRIC, current=current, lecturer_id=lecturer.id)


def test_a_preview_on_an_older_suite_cannot_be_applied(session, term):
    cw, students, subs, lecturer = term
    preview = start(session, cw, lecturer)
    runs = staged_runs(session, preview)
    for sub in subs:
        finish(session, runs[sub.id].id, FIXED, hidden=NEW_SUITE, rubric=cw.rubric_digest)
    newer = rp.SuiteDigests("c" * 64, cw.rubric_digest)  # the suite was fixed again since
    assert rp.preview_report(session=session, preview=preview, rubric=RUBRIC, current=newer).stale
    with pytest.raises(rp.PreviewStale, match="changed since this preview was made"):
        rp.apply_preview(session=session, preview=preview, rubric=RUBRIC, current=newer, lecturer_id=lecturer.id)
    session.expire_all()
    assert preview.status is PreviewStatus.pending and all(total(session, s) == 4 for s in subs)


def test_runs_graded_on_another_suite_than_the_previews_are_refused(session, term):
    cw, students, subs, lecturer = term
    preview = start(session, cw, lecturer)
    runs = staged_runs(session, preview)
    for n, sub in enumerate(subs):  # the suite changed on disk while the preview ran: one run saw it
        finish(session, runs[sub.id].id, FIXED, hidden="d" * 64 if n == 1 else NEW_SUITE)
    current = rp.SuiteDigests(NEW_SUITE, cw.rubric_digest)
    with pytest.raises(rp.PreviewStale, match="graded another suite"):
        rp.apply_preview(session=session, preview=preview, rubric=RUBRIC, current=current, lecturer_id=lecturer.id)
    assert all(session.get(GradingRun, r.id).staged for r in runs.values())


def test_one_pending_preview_at_a_time_and_a_discarded_one_cancels_its_waiting_runs(session, term):
    cw, students, subs, lecturer = term
    preview = start(session, cw, lecturer)
    with pytest.raises(rp.PreviewConflict, match="still pending"):
        start(session, cw, lecturer)
    runs = staged_runs(session, preview)
    finish(session, runs[subs[0].id].id, FIXED, hidden=NEW_SUITE)
    assert claim_run(session=session, run_id=runs[subs[1].id].id, worker_id="w2") is not None  # being graded
    rp.discard_preview(session=session, preview=preview, lecturer_id=lecturer.id)
    session.expire_all()
    assert preview.status is PreviewStatus.discarded
    assert [runs[s.id].status for s in subs] == [RunStatus.graded, RunStatus.cancelled, RunStatus.cancelled]
    assert all(runs[s.id].staged for s in subs) and all(total(session, s) == 4 for s in subs)
    with pytest.raises(rp.PreviewConflict, match="discarded already"):
        rp.discard_preview(session=session, preview=preview, lecturer_id=lecturer.id)
    again = start(session, cw, lecturer)  # the next one may start
    assert len(staged_runs(session, again)) == 3


def test_an_ordinary_regrade_is_queued_beside_a_staged_run(session, term):
    cw, students, subs, lecturer = term
    preview = start(session, cw, lecturer)
    staged = staged_runs(session, preview)[subs[0].id]
    ordinary = enqueue_run(session=session, submission_id=subs[0].id, requested_by_id=lecturer.id)
    assert ordinary.id != staged.id and not ordinary.staged
    assert enqueue_run(session=session, submission_id=subs[0].id).id == ordinary.id  # still one live ordinary run


def test_a_rubric_changed_on_disk_since_the_service_loaded_it_is_refused(session, term):
    cw, students, subs, lecturer = term
    with pytest.raises(rp.PreviewStale, match="rubric file changed"):
        rp.start_preview(
            session=session,
            coursework=cw,
            rubric=RUBRIC,
            digests=rp.SuiteDigests(NEW_SUITE, "e" * 64),
            lecturer_id=lecturer.id,
            queue="cpu",
            run_queue=Wakes(),
        )
    assert session.scalars(select(GradingRun).where(GradingRun.staged)).all() == []


def test_the_gradebook_holds_one_pending_preview_per_coursework(session, term):
    """Two lecturers starting at the same moment both pass the look for a pending one: the index decides."""
    cw, students, subs, lecturer = term
    first = start(session, cw, lecturer)
    twin = RegradePreview(
        coursework_id=cw.id,
        hidden_digest=NEW_SUITE,
        rubric_digest=cw.rubric_digest,
        created_by_id=lecturer.id,
        created_at=first.created_at,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(twin)
    rp.discard_preview(session=session, preview=first, lecturer_id=lecturer.id)
    assert start(session, cw, lecturer).status is PreviewStatus.pending  # discarded ones do not count
