"""Similarity on the gradebook: whose notebooks are compared, read from the blob store, and the
archive of earlier years.

This year's side is the submission that counts for each enrolled student (``counting_submission``:
the lecturer's pick, else the rubric's rule). The skeleton's code (the rubric folder's blank
submission) never counts as a match. Notebooks are read as JSON and tokenised, never run. A
notebook's fingerprints depend only on its bytes, so they are kept in a small cache keyed by the
blob's sha256: a second report reads the blobs again but tokenises nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.blobs import BlobError, BlobStore
from grader.courseworks.models import Coursework
from grader.db.clock import db_now
from grader.notebooks.reading import NotebookUnreadable, notebook_from_path, notebook_from_stream
from grader.roster.models import Student
from grader.rubrics.loader import CourseworkFiles
from grader.similarity.fingerprints import Document, fingerprint
from grader.similarity.models import ArchivedNotebook
from grader.similarity.notebook_code import code_cells
from grader.similarity.ranking import PairScore, prepare, rank_pairs
from grader.similarity.regions import SideBySide, side_by_side
from grader.submissions.models import Submission
from grader.submissions.service import counting_submission

ARCHIVE_PREFIX = "archive-"
_CACHE_SIZE = 4096
_hash_cache: OrderedDict[str, frozenset[int]] = OrderedDict()


class SimilarityError(Exception):
    """A request that names nothing comparable (an unknown key, an unreadable notebook)."""


@dataclass(frozen=True)
class Entry:
    """One compared notebook: a counting submission of this year, or an archived one."""

    key: str  # the submission's id, or ``archive-<id>``
    submission: Submission | None = None
    archived: ArchivedNotebook | None = None


@dataclass
class CohortReport:
    pairs: list[PairScore]  # best first
    entries: dict[str, Entry]
    unreadable: dict[str, str] = field(default_factory=dict)  # key -> why it was left out
    compared: int = 0  # this year's notebooks compared
    archived: int = 0  # earlier years' notebooks compared with them
    ignored: frozenset[int] = frozenset()  # the skeleton's fingerprints and those common in the cohort


def archive_key(row: ArchivedNotebook) -> str:
    return f"{ARCHIVE_PREFIX}{row.id}"


def counting_entries(*, session: Session, coursework: Coursework, grace_minutes: int) -> list[Entry]:
    """The submission that counts for each enrolled student who sent one, roster order."""
    students = session.scalars(
        select(Student.id)
        .where(Student.withdrawn_at.is_(None))
        .where(
            select(Submission.id)
            .where(Submission.student_id == Student.id, Submission.coursework_id == coursework.id)
            .exists()
        )
        .order_by(Student.enrolled_at, Student.id)
    ).all()
    entries = []
    for student_id in students:
        sub = counting_submission(
            session=session, student_id=student_id, coursework_id=coursework.id, grace_minutes=grace_minutes
        )
        if sub is not None:
            entries.append(Entry(str(sub.id), submission=sub))
    return entries


def archive_entries(*, session: Session, coursework: Coursework) -> list[Entry]:
    rows = session.scalars(
        select(ArchivedNotebook)
        .where(ArchivedNotebook.coursework_id == coursework.id)
        .order_by(ArchivedNotebook.year, ArchivedNotebook.label, ArchivedNotebook.id)
    ).all()
    return [Entry(archive_key(r), archived=r) for r in rows]


def skeleton_document(files: CourseworkFiles, max_bytes: int) -> Document:
    """The code the students were given (an empty document for a coursework without a skeleton)."""
    path = files.skeleton
    if not path.is_file():
        return fingerprint([])
    data = notebook_from_path(path, files.rubric.submission.notebook, max_bytes)
    return fingerprint(code_cells(data))


def entry_cells(entry: Entry, *, blobs: BlobStore, files: CourseworkFiles, max_bytes: int) -> list[str]:
    """The entry's code cells: the archived ones, or those of the submission's notebook (the
    ``.ipynb`` itself, or the zip member intake staged). ``NotebookUnreadable`` if it has none."""
    if entry.archived is not None:
        return list(entry.archived.cells)
    assert entry.submission is not None
    try:
        with blobs.open(entry.submission.blob_key) as stream:
            data = notebook_from_stream(
                stream,
                files.rubric.submission.notebook,
                max_bytes,
                snapshot=files.rubric.submission.allow_extra_files,
            )
    except BlobError as exc:
        raise NotebookUnreadable(f"the stored file cannot be read: {exc}") from None
    return code_cells(data)


def _hashes(entry: Entry, *, blobs: BlobStore, files: CourseworkFiles, max_bytes: int) -> frozenset[int]:
    content = entry.archived.sha256 if entry.archived is not None else entry.submission.blob_key  # type: ignore[union-attr]
    cache_key = f"{content}:{files.rubric.submission.notebook}"
    if cache_key in _hash_cache:
        _hash_cache.move_to_end(cache_key)
        return _hash_cache[cache_key]
    hashes = fingerprint(entry_cells(entry, blobs=blobs, files=files, max_bytes=max_bytes)).hashes
    _hash_cache[cache_key] = hashes
    if len(_hash_cache) > _CACHE_SIZE:
        _hash_cache.popitem(last=False)
    return hashes


def cohort_report(
    *,
    session: Session,
    coursework: Coursework,
    files: CourseworkFiles,
    blobs: BlobStore,
    max_bytes: int,
    with_archive: bool = True,
) -> CohortReport:
    """Every pair of counting submissions (and each against the archive) that share code beyond
    the skeleton, best first."""
    grace = files.rubric.late_policy.grace_minutes
    current = counting_entries(session=session, coursework=coursework, grace_minutes=grace)
    old = archive_entries(session=session, coursework=coursework) if with_archive else []
    report = CohortReport([], {e.key: e for e in [*current, *old]})
    hashes: dict[str, frozenset[int]] = {}
    for entry in [*current, *old]:
        try:
            hashes[entry.key] = _hashes(entry, blobs=blobs, files=files, max_bytes=max_bytes)
        except NotebookUnreadable as exc:
            report.unreadable[entry.key] = str(exc)
    cohort = {e.key: hashes[e.key] for e in current if e.key in hashes}
    archive = {e.key: hashes[e.key] for e in old if e.key in hashes}
    skeleton = skeleton_document(files, max_bytes).hashes
    report.pairs = rank_pairs(cohort, archive, skeleton)
    report.ignored = prepare(cohort, archive, skeleton).ignored
    report.compared, report.archived = len(cohort), len(archive)
    return report


@dataclass(frozen=True)
class PairView:
    left: Entry
    right: Entry
    left_cells: list[str]
    right_cells: list[str]
    view: SideBySide
    score: PairScore | None  # None: the two share too little to be listed
    rank: int | None  # its place in the ranked list (1 = first)


def entry_by_key(*, session: Session, coursework: Coursework, key: str) -> Entry:
    """A notebook the similarity pages may show: any submission of this coursework, or one of its archive's."""
    if key.startswith(ARCHIVE_PREFIX):
        number = key.removeprefix(ARCHIVE_PREFIX)
        row = session.get(ArchivedNotebook, int(number)) if number.isdigit() and len(number) < 10 else None
        if row is None or row.coursework_id != coursework.id:
            raise SimilarityError(f"{coursework.code} has no archived notebook {key!r}.")
        return Entry(key, archived=row)
    try:
        sub = session.get(Submission, uuid.UUID(key))
    except ValueError:
        sub = None
    if sub is None or sub.coursework_id != coursework.id:
        raise SimilarityError(f"{coursework.code} has no submission {key!r}.")
    return Entry(str(sub.id), submission=sub)


def pair_view(
    *,
    session: Session,
    coursework: Coursework,
    files: CourseworkFiles,
    blobs: BlobStore,
    max_bytes: int,
    left: str,
    right: str,
) -> PairView:
    """Two notebooks side by side, with the regions they share beyond the skeleton and the code
    common to the cohort (as the ranked list counts them)."""
    if left == right:
        raise SimilarityError("compare two different notebooks.")
    a = entry_by_key(session=session, coursework=coursework, key=left)
    b = entry_by_key(session=session, coursework=coursework, key=right)
    try:
        a_cells = entry_cells(a, blobs=blobs, files=files, max_bytes=max_bytes)
        b_cells = entry_cells(b, blobs=blobs, files=files, max_bytes=max_bytes)
    except NotebookUnreadable as exc:
        raise SimilarityError(f"the notebook cannot be read: {exc}") from None
    a_doc, b_doc = fingerprint(a_cells), fingerprint(b_cells)
    report = cohort_report(session=session, coursework=coursework, files=files, blobs=blobs, max_bytes=max_bytes)
    rank, score = next(
        ((n, p) for n, p in enumerate(report.pairs, start=1) if {p.a, p.b} == {a.key, b.key}), (None, None)
    )
    return PairView(a, b, a_cells, b_cells, side_by_side(a_doc, b_doc, report.ignored), score, rank)


@dataclass
class ArchiveImport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # path -> why


def add_archive(
    *, session: Session, coursework: Coursework, year: int, folder: Path, notebook_name: str, max_bytes: int
) -> ArchiveImport:
    """Every notebook (``.ipynb``, or a zip holding ``notebook_name``) under ``folder`` into the
    coursework's archive for ``year``: its code cells only. One already there is skipped; one that
    cannot be read is refused with the reason and the rest still go in."""
    result = ArchiveImport()
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".ipynb", ".zip"))
    for path in paths:
        label = str(path.relative_to(folder))[:255]
        try:
            data = notebook_from_path(path, notebook_name, max_bytes)
            cells = code_cells(data)
        except (NotebookUnreadable, OSError) as exc:
            result.refused[label] = str(exc)
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        exists = session.scalars(
            select(ArchivedNotebook.id).where(
                ArchivedNotebook.coursework_id == coursework.id,
                ArchivedNotebook.year == year,
                ArchivedNotebook.sha256 == sha,
            )
        ).first()
        if exists is not None:
            result.already.append(label)
            continue
        session.add(
            ArchivedNotebook(
                coursework_id=coursework.id, year=year, label=label, sha256=sha, cells=cells, added_at=db_now(session)
            )
        )
        session.flush()
        result.added.append(label)
    session.commit()
    return result
