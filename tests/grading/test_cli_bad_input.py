"""`grader grade` on unusable files: a clear error, exit 1 with JSON, never a traceback or a hang."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

GRADER = [sys.executable, "-m", "grader.cli"]


def grader(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, timeout=120)


def notebook(cells: int) -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1") for _ in range(cells)]))


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.ipynb", b"", "is empty"),
        ("photo.ipynb", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "not UTF-8"),
        ("script.ipynb", b"import torch\nprint(1)\n", "not valid JSON"),
        (
            "old.ipynb",
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "cells": [], "metadata": {}}).encode(),
            "format 3",
        ),
        ("huge.ipynb", notebook(5000).encode(), "5000 code cells"),
        ("broken.zip", b"PK\x03\x04\x00\x00not a zip", "not a valid zip"),
        ("deep.ipynb", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    ],
)
def test_unusable_file_is_a_submission_error(tmp_path: Path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    proc = grader("grade", str(path), "--coursework", "cw1", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "error" and result["error_kind"] == "submission"
    assert reason in result["error"]
    assert result["score"] == 0 and result["items"] == []


def test_human_output_names_the_problem(tmp_path: Path):
    path = tmp_path / "empty.ipynb"
    path.write_bytes(b"")
    proc = grader("grade", str(path), "--coursework", "cw1")
    assert proc.returncode == 1 and "error (submission): empty.ipynb is empty." in proc.stdout


def test_bad_usage_exits_2(tmp_path: Path):
    path = tmp_path / "x.ipynb"
    path.write_text(notebook(1))
    proc = grader("grade", str(path), "--coursework", "nosuchcw")
    assert proc.returncode == 2 and "no coursework 'nosuchcw'" in proc.stderr
    proc = grader("grade", str(tmp_path / "missing.ipynb"), "--coursework", "cw1")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = grader("grade", str(path))
    assert proc.returncode == 2 and "--coursework" in proc.stderr
