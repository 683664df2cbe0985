"""Anonymous marking: the one place that decides how a reader may name the students of a coursework.

Every route and page that shows markers a student (the marking API, the marks list, duplicate
flags, submission receipts and downloads, the dashboard's overview, marking page and question
view) asks an ``IdentityView`` here. With the coursework's switch on, a GTA gets the student's
stored pseudonym (``pseudonyms.py``) in place of the name and external id, a neutral file name in
place of the uploaded one, texts with the student's name, ids, email, username and file names
replaced, and lists in pseudonym order, never roster order. Lecturers and service accounts always
see everything (with the pseudonym alongside, to talk to GTAs about a script).

A new field that can identify a student (an extension's reason, a repository URL) belongs in
``ShownStudent``, revealed in ``_reveal`` and masked in ``_mask``, or passes through ``text``:
it then cannot reach a GTA by someone forgetting to mask it on one page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TypeVar, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.marking.allocations import is_anonymous
from grader.marking.pseudonyms import pseudonyms
from grader.roster.models import Student
from grader.rubrics.model import Rubric
from grader.users.models import Role, User

T = TypeVar("T")
SEES_NAMES = frozenset({Role.lecturer, Role.service})  # everyone else is shown pseudonyms
WITHHELD_FILE = "submission"  # an uploaded file's name, as a GTA sees it under anonymity
SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


@dataclass(frozen=True)
class ShownStudent:
    """A student as one reader may see them."""

    name: str  # the student's name, or their pseudonym
    external_id: str | None  # None: withheld
    pseudonym: str | None  # the coursework's label, when marking is anonymous
    anonymous: bool  # True: this reader is shown the pseudonym, not the student


@dataclass(frozen=True)
class _Identity:
    """Everything that names one student (what ``text`` scrubs)."""

    name: str
    external_id: str
    email: str | None
    username: str | None


@dataclass
class IdentityView:
    """How one reader names the students of one coursework. Build it with ``identity_view``."""

    session: Session
    coursework_id: int
    anonymous: bool  # the coursework's switch
    hides: bool  # this reader sees pseudonyms only
    safe_names: frozenset[str] = frozenset()  # file names the rubric asks for: never identifying
    _labels: dict[int, str] = field(default_factory=dict)
    _identities: dict[int, _Identity] = field(default_factory=dict)

    # -- students --------------------------------------------------------------------------------

    def load(self, student_ids: Iterable[int]) -> None:
        """Read (and, under anonymity, draw) what ``student`` needs for many students at once."""
        wanted = set(student_ids) - self._identities.keys()
        if not wanted:
            return
        rows = self.session.execute(
            select(Student.id, Student.name, Student.external_id, Student.email, User.username)
            .outerjoin(User, User.id == Student.user_id)
            .where(Student.id.in_(wanted))
        ).all()
        for row in rows:
            self._identities[row.id] = _Identity(row.name, row.external_id, row.email, row.username)
        if self.anonymous:
            self._labels.update(
                pseudonyms(session=self.session, coursework_id=self.coursework_id, student_ids=[r.id for r in rows])
            )

    def student(self, student_id: int) -> ShownStudent:
        self.load([student_id])
        who = self._identities[student_id]
        label = self._labels.get(student_id)
        return self._mask(label) if self.hides else self._reveal(who, label)

    @staticmethod
    def _reveal(who: _Identity, label: str | None) -> ShownStudent:
        return ShownStudent(name=who.name, external_id=who.external_id, pseudonym=label, anonymous=False)

    @staticmethod
    def _mask(label: str | None) -> ShownStudent:
        return ShownStudent(name=label or "", external_id=None, pseudonym=label, anonymous=True)

    def label(self, student_id: int) -> str:
        """What this reader calls the student: the name, or the pseudonym."""
        return self.student(student_id).name

    def ordered(self, items: Sequence[T], student_id_of: Callable[[T], int]) -> list[T]:
        """``items`` in pseudonym order for a reader shown pseudonyms (roster order would tell who
        is who); unchanged for everyone else."""
        if not self.hides:
            return list(items)
        self.load(student_id_of(i) for i in items)
        return sorted(items, key=lambda i: self._labels[student_id_of(i)])

    # -- files and texts -------------------------------------------------------------------------

    def filename(self, name: str) -> str:
        """An uploaded file's name (a zip member's too): the student's choice often carries their
        name, so a reader shown pseudonyms gets a neutral one unless the rubric itself asked for it."""
        if not self.hides or name in self.safe_names:
            return name
        suffix = PurePosixPath(name).suffix
        return WITHHELD_FILE + (suffix if SAFE_SUFFIX.fullmatch(suffix) else "")

    @overload
    def text(self, value: str, student_id: int, filenames: Iterable[str] = ()) -> str: ...
    @overload
    def text(self, value: None, student_id: int, filenames: Iterable[str] = ()) -> None: ...
    def text(self, value: str | None, student_id: int, filenames: Iterable[str] = ()) -> str | None:
        """A free text about the student's work (a run's log or error, a decision's reason) with
        the student's name, ids, email, username and file names replaced for a reader shown
        pseudonyms."""
        if not self.hides or not value:
            return value
        self.load([student_id])
        who = self._identities[student_id]
        label = self._labels[student_id]
        swaps = {n: self.filename(n) for n in filenames if n and n not in self.safe_names}
        for needle in (who.name, who.external_id, who.email, who.username, *who.name.split()):
            if needle and len(needle) >= 3:
                swaps.setdefault(needle, label)
        for needle in sorted(swaps, key=len, reverse=True):  # whole names before their parts
            value = re.sub(rf"(?<!\w){re.escape(needle)}(?!\w)", swaps[needle], value, flags=re.IGNORECASE)
        return value


def rubric_file_names(rubric: Rubric) -> frozenset[str]:
    """The file names a submission is asked to hold: they name the coursework, not the student."""
    return frozenset({rubric.submission.notebook, *rubric.submission.files, *rubric.submission.optional_files})


def reader_sees_pseudonyms(role: Role, anonymous: bool) -> bool:
    return anonymous and role not in SEES_NAMES


def identity_view(
    *, session: Session, coursework_id: int, reader_role: Role, safe_names: Iterable[str] = ()
) -> IdentityView:
    """The view of ``coursework_id``'s students for a reader of ``reader_role``. ``safe_names``:
    the file names the rubric asks for (``rubric_file_names``), shown as they are."""
    anonymous = is_anonymous(session=session, coursework_id=coursework_id)
    return IdentityView(
        session=session,
        coursework_id=coursework_id,
        anonymous=anonymous,
        hides=reader_sees_pseudonyms(reader_role, anonymous),
        safe_names=frozenset(safe_names),
    )
