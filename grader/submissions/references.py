"""The course systems' own references on a submission: CATe's submission id, or LabTS's repository
URL and commit SHA. Only a service token sets one (the route decides); a student cannot claim one.

``parse_reference`` is pure: it validates what a course system sent and says why in a sentence.
``find_by_reference`` looks a coursework's submissions up by either reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.submissions.models import Submission

MAX_CATE_ID = 128
MAX_REPOSITORY = 500
CATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # SHA-1, or SHA-256 object names


class ReferenceInvalid(ValueError):
    """A reference that cannot be stored as given. The message is for the course system."""


@dataclass(frozen=True)
class ExternalRef:
    cate_submission_id: str | None = None
    labts_repository: str | None = None
    labts_commit: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.cate_submission_id or self.labts_repository or self.labts_commit)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "cate_submission_id": self.cate_submission_id,
            "labts_repository": self.labts_repository,
            "labts_commit": self.labts_commit,
        }


NO_REF = ExternalRef()


def parse_reference(
    cate_submission_id: str | None = None, labts_repository: str | None = None, labts_commit: str | None = None
) -> ExternalRef:
    """The reference as stored (the commit in lower case), or ``ReferenceInvalid``. A LabTS reference
    is the repository and the commit together: a commit alone names nothing outside its repository."""
    cate = (cate_submission_id or "").strip() or None
    repo = (labts_repository or "").strip() or None
    commit = (labts_commit or "").strip().lower() or None
    if cate is not None and (len(cate) > MAX_CATE_ID or not CATE_ID.match(cate)):
        raise ReferenceInvalid(
            f"the CATe submission id must be 1 to {MAX_CATE_ID} letters, digits, '_', '.', ':' or '-'."
        )
    if (repo is None) != (commit is None):
        raise ReferenceInvalid("a LabTS reference needs both the repository URL and the commit SHA.")
    if repo is not None:
        check_repository(repo)
    if commit is not None and not COMMIT.match(commit):
        raise ReferenceInvalid("the commit SHA must be 40 (SHA-1) or 64 (SHA-256) hexadecimal characters.")
    return ExternalRef(cate, repo, commit)


def check_repository(url: str) -> str:
    """An https URL with a host, no credentials, no spaces, at most ``MAX_REPOSITORY`` characters."""
    if len(url) > MAX_REPOSITORY:
        raise ReferenceInvalid(f"the repository URL is longer than {MAX_REPOSITORY} characters.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ReferenceInvalid("the repository URL must not hold spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ReferenceInvalid(f"the repository URL is not valid: {exc}.") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ReferenceInvalid("the repository URL must be https:// with a host, e.g. https://gitlab.example/u/repo.")
    if parts.username is not None or parts.password is not None:
        raise ReferenceInvalid("the repository URL must not hold a user name or password.")
    return url


def reference_of(submission: Submission) -> ExternalRef:
    return ExternalRef(submission.cate_submission_id, submission.labts_repository, submission.labts_commit)


def find_by_reference(*, session: Session, coursework_id: int, ref: ExternalRef) -> list[Submission]:
    """The coursework's submissions carrying every part of ``ref`` that is given, oldest first.
    A retried upload (the same Idempotency-Key) is one submission; a course system that sent the
    same reference twice without a key finds both."""
    if ref.empty:
        raise ReferenceInvalid("name a reference: cate_submission_id, or labts_repository and labts_commit.")
    query = select(Submission).where(Submission.coursework_id == coursework_id)
    if ref.cate_submission_id is not None:
        query = query.where(Submission.cate_submission_id == ref.cate_submission_id)
    if ref.labts_commit is not None:
        query = query.where(Submission.labts_commit == ref.labts_commit)
    if ref.labts_repository is not None:
        query = query.where(Submission.labts_repository == ref.labts_repository)
    return list(session.scalars(query.order_by(Submission.received_at, Submission.id)))
