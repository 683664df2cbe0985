"""The one rule for which zip member is the notebook, and what makes a member unreadable: read
through ``notebook_from_path`` (what markers are shown) and ``stage_submission`` (what is graded
and hashed for duplicates), which must always agree."""

from __future__ import annotations

import io
import struct
import zipfile

import nbformat
import pytest
from crafted_zips import with_crc, with_flag, with_method, with_sizes, zipped

from grader.grading.intake import SubmissionError, stage_submission
from grader.notebooks.reading import NotebookUnreadable, notebook_from_path
from grader.notebooks.zip_members import is_junk
from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits

LIMITS = ExecutionLimits()
RUBRIC = Rubric.model_validate(
    {
        "coursework": "cwx",
        "title": "X",
        "weight": 0.4,
        "total_points": 1,
        "mode": "full",
        "submission": {"notebook": "cwx.ipynb"},
        "parts": [{"id": "1", "title": "One", "points": 1}],
        "items": [{"id": "a", "part": "1", "title": "A", "points": 1, "manual": True}],
    }
)


def nb(text: str) -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])).encode()


REAL, DECOY = nb("the real answer"), nb("a decoy for the marker")

DECOYS_FIRST = {
    "decoy in .ipynb_checkpoints": [(".ipynb_checkpoints/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
    "checkpoint copy, nested": [("work/.ipynb_checkpoints/cwx-checkpoint.ipynb", DECOY), ("work/cwx.ipynb", REAL)],
    "decoy in __MACOSX": [("__MACOSX/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
    "decoy in a nested __MACOSX": [("sub/__MACOSX/cwx.ipynb", DECOY), ("sub/cwx.ipynb", REAL)],
    "a .DS_Store beside it": [(".DS_Store", DECOY), ("sub/.DS_Store", DECOY), ("cwx.ipynb", REAL)],
}


def both_readers(tmp_path, members):
    return both_readers_from(tmp_path, zipped(members))


def both_readers_from(tmp_path, data: bytes):
    """(what markers are shown, what is staged for grading) from the zip ``data``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    return (
        notebook_from_path(path, "cwx.ipynb", 1 << 20),
        stage_submission(path, RUBRIC, tmp_path / "staged", LIMITS).notebook.read_bytes(),
    )


@pytest.mark.parametrize("members", DECOYS_FIRST.values(), ids=DECOYS_FIRST.keys())
def test_a_decoy_placed_first_is_neither_shown_nor_graded(tmp_path, members):
    shown, graded = both_readers(tmp_path, members)
    assert shown == graded == REAL


def test_a_renamed_notebook_beside_its_checkpoint_is_the_notebook_for_every_reader(tmp_path):
    shown, graded = both_readers(tmp_path, [(".ipynb_checkpoints/mine-checkpoint.ipynb", DECOY), ("mine.ipynb", REAL)])
    assert shown == graded == REAL


TWO_MATCHES = {
    "another folder depth": [("old/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
    "a folder merely named like junk": [("notes.DS_Store/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
    "a folder named like a checkpoint folder": [("ipynb_checkpoints/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
    "the same path twice": [("cwx.ipynb", DECOY), ("cwx.ipynb", REAL)],
}


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while writing "the same path twice"
@pytest.mark.parametrize("members", TWO_MATCHES.values(), ids=TWO_MATCHES.keys())
def test_two_members_with_the_notebooks_name_are_refused_by_every_reader_naming_both(tmp_path, members):
    path = tmp_path / "up.zip"
    path.write_bytes(zipped(members))
    first, second = (repr(name) for name, _ in members)
    with pytest.raises(SubmissionError) as refused:
        stage_submission(path, RUBRIC, tmp_path / "staged", LIMITS)
    assert f"{first} and {second}" in str(refused.value) and "more than once" in str(refused.value)
    with pytest.raises(NotebookUnreadable, match="more than once"):
        notebook_from_path(path, "cwx.ipynb", 1 << 20)
    assert not (tmp_path / "staged").exists()


@pytest.mark.parametrize(
    ("name", "junk"),
    [
        ("__MACOSX/._cwx.ipynb", True),
        (".ipynb_checkpoints/cwx-checkpoint.ipynb", True),
        (".DS_Store", True),
        ("a/b/.DS_Store", True),
        ("a/.ipynb_checkpoints/x.ipynb", True),
        ("cwx.ipynb", False),
        ("x.DS_Store/cwx.ipynb", False),
        ("my__MACOSX/cwx.ipynb", False),
        (".ipynb_checkpoints.ipynb", False),
        ("DS_Store", False),
    ],
)
def test_junk_is_whole_path_parts_not_substrings(name, junk):
    assert is_junk(name) is junk


UNREADABLE = {
    "encrypted": (lambda z: with_flag(z, "cwx.ipynb", 0x1), "encrypted"),
    "Deflate64": (lambda z: with_method(z, "cwx.ipynb", 9), "deflate64"),
    "PPMd": (lambda z: with_method(z, "cwx.ipynb", 98), "ppmd"),
    "an unknown method": (lambda z: with_method(z, "cwx.ipynb", 77), "method 77"),
    "a bad CRC": (lambda z: with_crc(z, "cwx.ipynb", 0x12345678), "damaged"),
    "a size that lies": (lambda z: with_sizes(z, "cwx.ipynb", 100), "damaged"),
}


@pytest.mark.parametrize(("craft", "reason"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_members_are_refused_with_a_reason_by_every_reader(tmp_path, craft, reason):
    path = tmp_path / "up.zip"
    path.write_bytes(craft(zipped([("cwx.ipynb", REAL)])))
    with pytest.raises(SubmissionError, match=reason):
        stage_submission(path, RUBRIC, tmp_path / "staged", LIMITS)
    with pytest.raises(NotebookUnreadable, match=reason):
        notebook_from_path(path, "cwx.ipynb", 1 << 20)
    assert not (tmp_path / "staged").exists()


def test_encrypted_junk_is_set_aside_not_read(tmp_path):
    data = with_flag(zipped([("__MACOSX/._cwx.ipynb", b"x"), ("cwx.ipynb", REAL)]), "__MACOSX/._cwx.ipynb", 0x1)
    shown, graded = both_readers_from(tmp_path, data)
    assert shown == graded == REAL


def test_bzip2_and_lzma_members_are_read(tmp_path):
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_STORED):
        shown, graded = both_readers_from(tmp_path / str(method), zipped([("cwx.ipynb", REAL)], method))
        assert shown == graded == REAL


def test_a_zip_listing_far_too_many_files_is_refused_before_its_directory_is_parsed(tmp_path):
    # Parsed, the directory would give intake's own "holds N entries" refusal after seconds and
    # hundreds of MB; the end record's size refuses it first.
    path = tmp_path / "up.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("cwx.ipynb", REAL)
        for n in range(40_000):
            zf.writestr(zipfile.ZipInfo(f"f{n}"), b"")
    rubric = RUBRIC.model_copy(update={"submission": RUBRIC.submission.model_copy(update={"max_mb": 50})})
    with pytest.raises(SubmissionError, match="far too many files"):
        stage_submission(path, rubric, tmp_path / "staged", LIMITS)
    with pytest.raises(NotebookUnreadable, match="far too many files"):
        notebook_from_path(path, "cwx.ipynb", 1 << 20)


def test_a_zip_within_the_directory_limit_opens_as_before(tmp_path):
    members = [("cwx.ipynb", REAL)] + [(f"__MACOSX/{'n' * 200}{k}", b"") for k in range(60)]
    shown, graded = both_readers(tmp_path, members)
    assert shown == graded == REAL


def test_a_small_zip_with_zip64_end_records_opens(tmp_path):
    """Some tools always write Zip64 end records, leaving 0xFFFFFFFF in the classic one: the
    directory's size is then read from the Zip64 record, and an honest zip still goes through."""
    data = zipped([(".ipynb_checkpoints/cwx.ipynb", DECOY), ("cwx.ipynb", REAL)])
    end = data.rfind(b"PK\x05\x06")
    entries, size, offset = struct.unpack_from("<HII", data, end + 10)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    classic = bytearray(data[end:])
    struct.pack_into("<II", classic, 12, 0xFFFFFFFF, 0xFFFFFFFF)
    crafted = data[:end] + record + locator + bytes(classic)
    with zipfile.ZipFile(io.BytesIO(crafted)) as zf:  # zipfile itself reads it through the Zip64 record
        assert len(zf.infolist()) == 2
    shown, graded = both_readers_from(tmp_path, crafted)
    assert shown == graded == REAL
