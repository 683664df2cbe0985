"""Recording received submissions, listing them, and which one counts.

``record_submission`` commits before it returns: its caller stores the blob durably first, then
records the row, then hands out the receipt. A receipt therefore always means both are kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit.service import record_event
from grader.courseworks.service import effective_deadline
from grader.db.clock import db_now
from grader.scoring.lateness import late_minutes
from grader.submissions.models import CountingChoice, DuplicateFlag, Submission, SubmissionFile
from grader.submissions.references import NO_REF, ExternalRef


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different file."""


@dataclass(frozen=True)
class ReceivedFile:
    """One file of an upload: the notebook, or a member of the zip."""

    path: str
    sha256: str
    size_bytes: int


def record_submission(
    *,
    session: Session,
    coursework_id: int,
    student_id: int,
    sha256: str,
    size_bytes: int,
    original_filename: str,
    blob_key: str,
    files: Sequence[ReceivedFile] = (),
    idempotency_key: str | None = None,
    stated_received_at: dt.datetime | None = None,
    submitted_by_id: int | None = None,
    reference: ExternalRef = NO_REF,
    ignored_files: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> tuple[Submission, bool]:
    """Commit the row of an upload whose blob is already stored. Returns (submission, created).

    With an ``idempotency_key`` already used by this student for this coursework, the submission
    recorded then is returned (created False) and nothing is written. ``stated_received_at`` is
    for a service forwarding a file late; the API passes it only from a service token. ``files``
    are the upload's files (default: the upload itself); copies of another student's are flagged.
    ``reference``: the course system's own (a service token only); ``ignored_files``: a repository
    snapshot's files that were not graded, listed for the marker.
    """
    if idempotency_key is not None:
        existing = _by_key(session, student_id, coursework_id, idempotency_key)
        if existing is not None:
            return _same_upload(existing, sha256), False
    ours = now or db_now(session)
    deadline = effective_deadline(session=session, student_id=student_id, coursework_id=coursework_id)
    submission = Submission(
        id=uuid.uuid4(),
        coursework_id=coursework_id,
        student_id=student_id,
        sha256=sha256,
        size_bytes=size_bytes,
        original_filename=original_filename,
        blob_key=blob_key,
        received_at=ours,
        stated_received_at=stated_received_at,
        idempotency_key=idempotency_key,
        submitted_by_id=submitted_by_id,
        cate_submission_id=reference.cate_submission_id,
        labts_repository=reference.labts_repository,
        labts_commit=reference.labts_commit,
        ignored_files=list(ignored_files) or None,
    )
    submission.late_minutes = late_minutes(submission.receipt_time, deadline)
    files = list(files) or [ReceivedFile(original_filename, sha256, size_bytes)]
    try:
        with session.begin_nested():
            session.add(submission)
            session.add_all(
                SubmissionFile(submission_id=submission.id, path=f.path, sha256=f.sha256, size_bytes=f.size_bytes)
                for f in files
            )
            session.flush()
            session.add_all(_duplicate_flags(session, submission, files))
    except IntegrityError:
        # The same key arrived on another connection at the same moment, and won.
        existing = _by_key(session, student_id, coursework_id, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return _same_upload(existing, sha256), False
    session.commit()
    return submission, True


def list_submissions(*, session: Session, student_id: int, coursework_id: int | None = None) -> list[Submission]:
    """A student's submissions, oldest first."""
    query = select(Submission).where(Submission.student_id == student_id)
    if coursework_id is not None:
        query = query.where(Submission.coursework_id == coursework_id)
    return list(session.scalars(query.order_by(Submission.received_at, Submission.id)))


def counting_submission(
    *, session: Session, student_id: int, coursework_id: int, grace_minutes: int = 0
) -> Submission | None:
    """The submission that counts for a student's coursework mark.

    A lecturer's pick, if any; else the latest received by the student's deadline (their
    extension honoured; within the late policy's grace counts as in time); else, with none in
    time, the latest. None when the student sent nothing.
    """
    chosen = session.scalars(
        select(Submission)
        .join(CountingChoice, CountingChoice.submission_id == Submission.id)
        .where(CountingChoice.student_id == student_id, CountingChoice.coursework_id == coursework_id)
    ).first()
    if chosen is not None:
        return chosen
    submissions = list_submissions(session=session, student_id=student_id, coursework_id=coursework_id)
    if not submissions:
        return None
    deadline = effective_deadline(session=session, student_id=student_id, coursework_id=coursework_id)
    return rule_counting(submissions, deadline, grace_minutes)


def rule_counting(
    submissions: Sequence[Submission], deadline: dt.datetime | None, grace_minutes: int = 0
) -> Submission | None:
    """The rubric's rule alone (pure; the dashboard applies it to a whole coursework at once): the
    latest received by ``deadline`` (plus grace), else, with none in time, the latest."""
    if not submissions:
        return None
    latest_first = sorted(submissions, key=lambda s: (s.receipt_time, s.received_at), reverse=True)
    if deadline is None:
        return latest_first[0]
    cutoff = deadline + dt.timedelta(minutes=grace_minutes)
    in_time = [s for s in latest_first if s.receipt_time <= cutoff]
    return in_time[0] if in_time else latest_first[0]


def choose_counting_submission(
    *,
    session: Session,
    submission_id: uuid.UUID,
    chosen_by_id: int,
    reason: str = "",
    now: dt.datetime | None = None,
) -> CountingChoice:
    """A lecturer picks which of a student's submissions counts (replacing an earlier pick)."""
    now = now or db_now(session)
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise LookupError(f"no submission {submission_id}")
    choice = session.scalars(
        select(CountingChoice).where(
            CountingChoice.student_id == submission.student_id, CountingChoice.coursework_id == submission.coursework_id
        )
    ).first()
    previous = choice.submission_id if choice else None
    if choice is None:
        choice = CountingChoice(student_id=submission.student_id, coursework_id=submission.coursework_id)
        session.add(choice)
    choice.submission_id, choice.chosen_by_id, choice.chosen_at, choice.reason = (
        submission.id,
        chosen_by_id,
        now,
        reason,
    )
    record_event(
        session=session,
        actor_id=chosen_by_id,
        action="submission.choose_counting",
        subject_type="submission",
        subject_id=submission.id,
        at=now,
        details={"previous": str(previous) if previous else None, "reason": reason},
    )
    session.commit()
    return choice


def counting_choice(*, session: Session, student_id: int, coursework_id: int) -> CountingChoice | None:
    """The lecturer's pick for a student's coursework, if there is one."""
    return session.scalars(
        select(CountingChoice).where(
            CountingChoice.student_id == student_id, CountingChoice.coursework_id == coursework_id
        )
    ).first()


def clear_counting_choice(
    *, session: Session, student_id: int, coursework_id: int, cleared_by_id: int, now: dt.datetime | None = None
) -> bool:
    """Drop a lecturer's pick: the rubric's rule decides again. False (nothing written) when there was none."""
    choice = counting_choice(session=session, student_id=student_id, coursework_id=coursework_id)
    if choice is None:
        return False
    record_event(
        session=session,
        actor_id=cleared_by_id,
        action="submission.clear_counting",
        subject_type="submission",
        subject_id=choice.submission_id,
        at=now or db_now(session),
        details={"previous": str(choice.submission_id), "reason": choice.reason},
    )
    session.delete(choice)
    session.commit()
    return True


def graded_files(*, session: Session, submission_id: uuid.UUID) -> list[str]:
    """The paths of the files that were staged and graded (for a snapshot: not its ignored files)."""
    return list(
        session.scalars(
            select(SubmissionFile.path)
            .where(SubmissionFile.submission_id == submission_id)
            .order_by(SubmissionFile.path)
        )
    )


@dataclass(frozen=True)
class DuplicateLink:
    """A file of one submission identical to a file of another student's submission."""

    path: str
    sha256: str
    other: Submission
    other_path: str
    other_is_earlier: bool  # True: this submission was flagged as the copy; False: the other was


def duplicates_of(*, session: Session, submission_id: uuid.UUID) -> list[DuplicateLink]:
    """The flags naming this submission, either way round, oldest flag first."""
    flags = session.scalars(
        select(DuplicateFlag)
        .where((DuplicateFlag.submission_id == submission_id) | (DuplicateFlag.duplicate_of_id == submission_id))
        .order_by(DuplicateFlag.id)
    ).all()
    links = []
    for flag in flags:
        earlier = flag.submission_id == submission_id
        other_id = flag.duplicate_of_id if earlier else flag.submission_id
        own_path = flag.path if earlier else _path_of(session, submission_id, flag.sha256)
        other_path = _path_of(session, other_id, flag.sha256) if earlier else flag.path
        other = session.get_one(Submission, other_id)  # a foreign key: the row is there
        links.append(DuplicateLink(own_path, flag.sha256, other, other_path, earlier))
    return links


@dataclass(frozen=True)
class DuplicateHolder:
    submission: Submission
    path: str
    flagged: bool  # False: the earliest holder, whose file the flagged ones copy


def coursework_duplicates(*, session: Session, coursework_id: int) -> dict[str, list[DuplicateHolder]]:
    """Every flagged file of a coursework: sha256 -> its holders (the earliest first), first flagged first."""
    flags = session.scalars(
        select(DuplicateFlag)
        .join(Submission, Submission.id == DuplicateFlag.submission_id)
        .where(Submission.coursework_id == coursework_id)
        .order_by(DuplicateFlag.id)
    ).all()
    groups: dict[str, dict[uuid.UUID, DuplicateHolder]] = {}
    for flag in flags:
        holders = groups.setdefault(flag.sha256, {})
        if flag.duplicate_of_id not in holders:
            original = session.get_one(Submission, flag.duplicate_of_id)  # foreign keys: the rows are there
            holders[original.id] = DuplicateHolder(original, _path_of(session, original.id, flag.sha256), False)
        holders[flag.submission_id] = DuplicateHolder(session.get_one(Submission, flag.submission_id), flag.path, True)
    return {
        sha: sorted(h.values(), key=lambda h: (h.submission.received_at, str(h.submission.id)))
        for sha, h in groups.items()
    }


def _path_of(session: Session, submission_id: uuid.UUID, sha256: str) -> str:
    return (
        session.scalars(
            select(SubmissionFile.path)
            .where(SubmissionFile.submission_id == submission_id, SubmissionFile.sha256 == sha256)
            .order_by(SubmissionFile.path)
            .limit(1)
        ).first()
        or ""
    )


def _by_key(session: Session, student_id: int, coursework_id: int, key: str) -> Submission | None:
    return session.scalars(
        select(Submission).where(
            Submission.student_id == student_id,
            Submission.coursework_id == coursework_id,
            Submission.idempotency_key == key,
        )
    ).first()


def _same_upload(existing: Submission, sha256: str) -> Submission:
    if existing.sha256 != sha256:
        raise IdempotencyConflict(
            f"this Idempotency-Key was used for submission {existing.id}, which holds a different file"
        )
    return existing


def _duplicate_flags(session: Session, submission: Submission, files: Sequence[ReceivedFile]) -> list[DuplicateFlag]:
    """One flag per file that an earlier submission of another student already holds."""
    flags = []
    for f in files:
        original = session.scalars(
            select(Submission.id)
            .join(SubmissionFile, SubmissionFile.submission_id == Submission.id)
            .where(
                SubmissionFile.sha256 == f.sha256,
                Submission.coursework_id == submission.coursework_id,
                Submission.student_id != submission.student_id,
            )
            .order_by(Submission.received_at, Submission.id)
            .limit(1)
        ).first()
        if original is not None:
            flags.append(
                DuplicateFlag(
                    submission_id=submission.id,
                    path=f.path,
                    sha256=f.sha256,
                    duplicate_of_id=original,
                    flagged_at=submission.received_at,
                )
            )
    return flags
