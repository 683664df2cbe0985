"""Checking an upload in a limited child process: hostile files are refused with a sentence for
the student (never a 500), and a check that runs out of CPU, time or memory is stopped."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from api_kit import notebook, upload, zipped

from grader.grading.intake import SubmissionError
from grader.rubrics.model import Rubric
from grader.settings import ExecutionLimits
from grader.submissions.upload_check import CheckBounds, check_upload

DEEP_NOTEBOOK = (
    b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
)


def _bad_crc_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("cwa.ipynb", notebook("x = 1"))
    data = bytearray(buf.getvalue())
    at = data.find(b"x = 1")
    data[at] = ord("y")  # the stored bytes no longer match the CRC in the directory
    return bytes(data)


@pytest.mark.parametrize(
    "name,data,words",
    [
        ("cwa.ipynb", DEEP_NOTEBOOK, "nested too deeply"),
        ("sub.zip", zipped({"cwa.ipynb": DEEP_NOTEBOOK}), "nested too deeply"),
        ("sub.zip", _bad_crc_zip(), "damaged"),
    ],
)
def test_hostile_files_are_422_with_a_reason(client, people, name, data, words):
    r = upload(client, people.headers["student"], data, name=name)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("your submission was not accepted") and words in r.json()["detail"]


def test_good_uploads_still_pass_and_record_their_files(client, people):
    r = upload(client, people.headers["student"], zipped({"cwa.ipynb": notebook("ok = 1")}), name="sub.zip")
    assert r.status_code == 201, r.text


@pytest.fixture
def rubric() -> Rubric:
    raw = {
        "coursework": "cwx",
        "title": "Check",
        "weight": 0.4,
        "total_points": 1,
        "submission": {"notebook": "cwx.ipynb", "max_mb": 64},
        "mode": "full",
        "parts": [{"id": "1", "title": "One", "points": 1}],
        "items": [{"id": "a", "part": "1", "title": "A", "points": 1, "manual": True}],
    }
    return Rubric.model_validate(raw)


def _many_cells(path: Path, cells: int) -> Path:
    """A valid notebook of many tiny markdown cells: small on disk, slow and big to validate."""
    cell = '{"cell_type":"markdown","id":"c%d","metadata":{},"source":"a"}'
    body = ",".join(cell % n for n in range(cells))
    path.write_text('{"cells":[' + body + '],"metadata":{},"nbformat":4,"nbformat_minor":5}')
    return path


GENEROUS = CheckBounds(cpu_s=120, timeout_s=300, memory_mb=4096)


def test_a_check_past_its_cpu_limit_is_refused(tmp_path, rubric):
    slow = _many_cells(tmp_path / "slow.ipynb", 60_000)  # about 4 MB, seconds of CPU to validate
    started = time.monotonic()
    with pytest.raises(SubmissionError, match="took more than the service allows"):
        check_upload(
            slow, rubric, tmp_path / "a", ExecutionLimits(), CheckBounds(cpu_s=1, timeout_s=300, memory_mb=4096)
        )
    assert time.monotonic() - started < 60
    # The same file within generous limits is a valid notebook: the limit, not the file, refused it.
    files = check_upload(slow, rubric, tmp_path / "b", ExecutionLimits(), GENEROUS)
    assert [f.name for f in files] == ["cwx.ipynb"]


def test_a_check_past_its_deadline_is_killed(tmp_path, rubric):
    slow = _many_cells(tmp_path / "slow.ipynb", 60_000)
    started = time.monotonic()
    with pytest.raises(SubmissionError, match="took more than the service allows"):
        check_upload(
            slow, rubric, tmp_path / "a", ExecutionLimits(), CheckBounds(cpu_s=120, timeout_s=1, memory_mb=4096)
        )
    assert time.monotonic() - started < 10


def test_a_check_past_its_memory_limit_is_refused(tmp_path, rubric):
    big = _many_cells(tmp_path / "big.ipynb", 400_000)  # about 28 MB of JSON, far more as objects
    small = _many_cells(tmp_path / "small.ipynb", 2_000)
    bounds = CheckBounds(cpu_s=120, timeout_s=300, memory_mb=300)
    with pytest.raises(SubmissionError, match="needs more memory to check than the service allows"):
        check_upload(big, rubric, tmp_path / "a", ExecutionLimits(), bounds)
    assert [f.name for f in check_upload(small, rubric, tmp_path / "b", ExecutionLimits(), bounds)] == ["cwx.ipynb"]


def test_the_staged_files_and_hashes_come_back(tmp_path, rubric):
    data = notebook("ok = 1")
    upload_path = tmp_path / "upload"
    upload_path.write_bytes(data)
    files = check_upload(upload_path, rubric, tmp_path / "staged", ExecutionLimits(), GENEROUS)
    import hashlib

    assert [(f.name, f.sha256, f.size_bytes) for f in files] == [
        ("cwx.ipynb", hashlib.sha256(data).hexdigest(), len(data))
    ]
    assert (tmp_path / "staged" / "cwx.ipynb").read_bytes() == data


def test_checks_are_forked_from_one_template_and_go_on_without_it(tmp_path, rubric):
    import dataclasses
    import os
    import signal

    from grader.processes.forkserver import shared_server
    from grader.submissions import upload_check

    data = notebook("ok = 1")
    upload_path = tmp_path / "upload"
    upload_path.write_bytes(data)
    assert [f.name for f in check_upload(upload_path, rubric, tmp_path / "a", ExecutionLimits(), GENEROUS)] == [
        "cwx.ipynb"
    ]
    template = shared_server(upload_check.TEMPLATE)
    assert not template.dead and template.proc.poll() is None  # kept for the next upload
    check_upload(upload_path, rubric, tmp_path / "b", ExecutionLimits(), GENEROUS)
    assert shared_server(upload_check.TEMPLATE) is template  # the same template served the second
    os.kill(template.proc.pid, signal.SIGKILL)
    template.proc.wait()
    deadline = time.monotonic() + 10
    while not template.dead and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check_upload(upload_path, rubric, tmp_path / "c", ExecutionLimits(), GENEROUS)[0].sha256  # a new one
    assert shared_server(upload_check.TEMPLATE) is not template
    cold = dataclasses.replace(GENEROUS, fork=False)  # settings.fork_servers off: a new interpreter each time
    assert check_upload(upload_path, rubric, tmp_path / "d", ExecutionLimits(), cold)[0].name == "cwx.ipynb"
