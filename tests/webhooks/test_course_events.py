"""The events course systems asked for beyond a run's result: a run the sweeper gives up on
(``submission.grading_failed``), ``marks.released`` and ``mark.changed_after_release``, each
written in the transaction of what it reports (Postgres)."""

from __future__ import annotations

import datetime as dt

from gradebook_factory import add_user
from sqlalchemy import select
from webhook_kit import add_endpoint, leased_run

from grader.courseworks.models import Coursework
from grader.marking.release import release_marks
from grader.marking.service import decide_penalty, set_mark
from grader.roster.models import Student
from grader.runs.models import RunKind, RunStatus
from grader.runs.service import get_run, sweep_expired_leases
from grader.submissions.models import Submission
from grader.users.models import TokenView
from grader.webhooks.models import WebhookDelivery

URL = "https://cate.example.ac.uk/hooks"
EVENTS = ["submission.graded", "submission.grading_failed", "marks.released", "mark.changed_after_release"]


def _payloads(session, event_type: str) -> list[dict]:
    rows = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == event_type).order_by(WebhookDelivery.id)
    )
    return [r.payload for r in rows]


def test_a_run_the_sweeper_gives_up_on_sends_grading_failed(sessions):
    with sessions() as session:
        add_endpoint(session, URL, events=["submission.grading_failed"])
        lease = leased_run(session)
        swept = sweep_expired_leases(
            session=session,
            max_attempts=1,
            now=lease.expires_at + dt.timedelta(seconds=1),
            public_url="https://g.example/",
        )
        assert swept == []  # not put back: its attempts are used up
        run = get_run(session=session, run_id=lease.run_id)
        assert run.status is RunStatus.error and run.error_kind == "infrastructure"
        [event] = _payloads(session, "submission.grading_failed")
        assert event["data"]["run_id"] == lease.run_id and event["data"]["status"] == "error"
        assert event["data"]["url"] == f"https://g.example/api/v1/submissions/{lease.submission_id}"
        # Swept again later: nothing new is said.
        sweep_expired_leases(session=session, max_attempts=1, now=lease.expires_at + dt.timedelta(hours=1))
        assert len(_payloads(session, "submission.grading_failed")) == 1


def test_a_precheck_the_sweeper_gives_up_on_sends_nothing(sessions):
    with sessions() as session:
        add_endpoint(session, URL, events=["submission.grading_failed"])
        lease = leased_run(session, kind=RunKind.precheck)
        sweep_expired_leases(session=session, max_attempts=1, now=lease.expires_at + dt.timedelta(seconds=1))
        assert _payloads(session, "submission.grading_failed") == []


def test_a_requeued_run_sends_nothing(sessions):
    with sessions() as session:
        add_endpoint(session, URL, events=["submission.grading_failed"])
        lease = leased_run(session)
        assert sweep_expired_leases(
            session=session, max_attempts=3, now=lease.expires_at + dt.timedelta(seconds=1)
        ) == [lease.run_id]
        assert _payloads(session, "submission.grading_failed") == []


def test_release_then_a_changed_mark_are_told_and_before_release_nothing(sessions):
    with sessions() as session:
        staff = add_endpoint(session, URL + "/staff", events=EVENTS)
        cate = add_endpoint(session, URL + "/cate", events=EVENTS, view=TokenView.student)
        lease = leased_run(session)
        sub = session.get(Submission, lease.submission_id)
        cw = session.get(Coursework, sub.coursework_id)
        student = session.get(Student, sub.student_id)
        marker = add_user(session).id
        mark = set_mark(
            session=session,
            student_id=sub.student_id,
            coursework_id=cw.id,
            item_id="essay",
            score=3.0,
            by_user_id=marker,
            expected_version=None,
            submission_id=sub.id,
            comment="CANARY_COMMENT a marker's words",
        )
        assert _payloads(session, "mark.changed_after_release") == []  # before release: no news

        release_marks(session=session, coursework=cw, released_by_id=marker, public_url="https://g.example")
        released = _payloads(session, "marks.released")
        assert len(released) == 2 and released[0] == released[1]  # one event, to each endpoint
        assert released[0]["data"]["coursework"] == cw.code and released[0]["data"]["first_release"] is True
        assert released[0]["data"]["marks_url"] == f"https://g.example/api/v1/courseworks/{cw.code}/marks"
        release_marks(session=session, coursework=cw, released_by_id=marker)
        assert _payloads(session, "marks.released")[-1]["data"]["first_release"] is False

        set_mark(
            session=session,
            student_id=sub.student_id,
            coursework_id=cw.id,
            item_id="essay",
            score=4.0,
            by_user_id=marker,
            expected_version=mark.version,
            submission_id=sub.id,
            comment="CANARY_COMMENT changed",
        )
        decide_penalty(
            session=session, submission=sub, penalty_id="style", applied=True, by_user_id=marker, expected_version=None
        )
        changed = _payloads(session, "mark.changed_after_release")
        assert len(changed) == 4  # two changes, each to both endpoints
        mark_event = changed[0]["data"]
        assert mark_event["item_id"] == "essay" and mark_event["kind"] == "manual"
        assert (mark_event["old_score"], mark_event["new_score"]) == (3.0, 4.0)
        assert mark_event["student_external_id"] == student.external_id
        assert mark_event["feedback_url"].endswith(f"/api/v1/courseworks/{cw.code}/feedback/{student.external_id}")
        assert changed[2]["data"]["penalty_id"] == "style" and changed[2]["data"]["applied"] is True
        endpoints = {d.endpoint_id for d in session.scalars(select(WebhookDelivery))}
        assert endpoints == {staff, cate}
        everything = str([d.payload for d in session.scalars(select(WebhookDelivery))])
        assert "CANARY_COMMENT" not in everything  # comments never travel in a webhook
