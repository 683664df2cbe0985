import json
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest
from rubric_factory import make_rubric

from grader.grading.intake import SubmissionError, stage_submission
from grader.settings import ExecutionLimits

LIMITS = ExecutionLimits(max_cells=50)
RUBRIC = make_rubric()
ZIP_RUBRIC = make_rubric(submission={"notebook": "cwx.ipynb", "files": ["model.pth"]})


def notebook_bytes(cells=1) -> bytes:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1") for _ in range(cells)])
    return nbformat.writes(nb).encode()


def stage(tmp_path: Path, data: bytes, name="upload.ipynb", rubric=RUBRIC):
    src = tmp_path / name
    src.write_bytes(data)
    return stage_submission(src, rubric, tmp_path / "staged", LIMITS)


def test_valid_notebook_is_staged_under_the_rubric_name(tmp_path):
    data = notebook_bytes()
    staged = stage(tmp_path, data, name="my homework.ipynb")
    assert staged.notebook.name == "cwx.ipynb" and staged.notebook.read_bytes() == data
    assert sorted(p.name for p in staged.folder.iterdir()) == ["cwx.ipynb"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b"print('hello')", "not valid JSON"),
        (json.dumps({"a": 1}).encode(), "not a Jupyter notebook"),
        (json.dumps({"nbformat": 3, "nbformat_minor": 0, "cells": [], "metadata": {}}).encode(), "format 3"),
        (
            json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}], "metadata": {}}).encode(),
            "not a valid Jupyter notebook",
        ),
        (notebook_bytes(cells=51), "51 code cells; at most 50"),
    ],
)
def test_bad_notebooks_get_a_reason(tmp_path, data, reason):
    with pytest.raises(SubmissionError, match=reason):
        stage(tmp_path, data)


def make_zip(tmp_path: Path, members: dict[str, bytes], links=()) -> bytes:
    path = tmp_path / "build.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path.read_bytes()


def test_zip_with_required_files_is_staged(tmp_path):
    data = make_zip(
        tmp_path, {"sub/cwx.ipynb": notebook_bytes(), "sub/model.pth": b"weights", "__MACOSX/._model.pth": b"junk"}
    )
    staged = stage(tmp_path, data, name="up.zip", rubric=ZIP_RUBRIC)
    assert sorted(staged.files) == ["cwx.ipynb", "model.pth"]
    assert staged.files["model.pth"].read_bytes() == b"weights"


@pytest.mark.parametrize(
    ("members", "links", "reason"),
    [
        ({"cwx.ipynb": b"{}", "model.pth": b"", "../evil.py": b""}, (), r"'\.\.'"),
        ({"/etc/cron.d/x": b""}, (), "absolute path"),
        ({"cwx.ipynb": b""}, ("model.pth",), "link"),
        ({"cwx.ipynb": notebook_bytes()}, (), "missing model.pth"),
        ({"cwx.ipynb": notebook_bytes(), "model.pth": b"", "notes.txt": b""}, (), "unexpected notes.txt"),
        ({"a/model.pth": b"", "b/model.pth": b"", "cwx.ipynb": b""}, (), "two files named"),
    ],
)
def test_bad_zips_are_refused_and_leave_nothing(tmp_path, members, links, reason):
    with pytest.raises(SubmissionError, match=reason):
        stage(tmp_path, make_zip(tmp_path, members, links), name="up.zip", rubric=ZIP_RUBRIC)
    assert not (tmp_path / "staged").exists() or not any((tmp_path / "staged").iterdir())


def test_not_a_zip_when_files_are_required(tmp_path):
    with pytest.raises(SubmissionError, match="needs a zip holding cwx.ipynb and model.pth"):
        stage(tmp_path, notebook_bytes(), rubric=ZIP_RUBRIC)
    with pytest.raises(SubmissionError, match="not a valid zip"):
        stage(tmp_path, b"PK\x03\x04garbage", name="up.zip", rubric=ZIP_RUBRIC)


def test_zip_with_invalid_notebook_leaves_nothing_staged(tmp_path):
    with pytest.raises(SubmissionError, match="not valid JSON"):
        stage(tmp_path, make_zip(tmp_path, {"cwx.ipynb": b"nope", "model.pth": b"w"}), name="u.zip", rubric=ZIP_RUBRIC)
    assert not (tmp_path / "staged").exists()
