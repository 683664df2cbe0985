"""A warm unit's files come in the start message: plain relative names, each blob once, nothing
written outside the work dir; the start message's extra fields are checked the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.judge.run import submission_files
from workers.runner.main import check_files, check_job_env, check_models, check_warm, write_files


@pytest.mark.parametrize("name", ["../job.json", "/etc/passwd", "a/../b.pt", "", ".", "a//b", "a\\b", "a\x00b", "x/"])
def test_names_that_leave_the_work_dir_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_files([{"name": name, "blob": 0}], 1)


@pytest.mark.parametrize(
    "files, blobs",
    [
        ([{"name": "a", "blob": 0}], 2),  # a blob no file names
        ([{"name": "a", "blob": 1}], 1),  # out of order
        ([{"name": "a", "blob": 0}, {"name": "a", "blob": 1}], 2),  # twice
        ([{"name": "a", "blob": True}], 1),
        ([{"name": "a", "blob": 0, "mode": 0o777}], 1),
        ({"a": 0}, 1),
    ],
)
def test_file_lists_that_do_not_match_their_blobs_are_refused(files: object, blobs: int) -> None:
    with pytest.raises(ValueError):
        check_files(files, blobs)


def test_files_are_written_below_the_work_dir_only(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    write_files(
        check_files([{"name": "nb.ipynb", "blob": 0}, {"name": "data/x.npy", "blob": 1}], 2), [b"1", b"2"], work
    )
    assert (work / "nb.ipynb").read_bytes() == b"1" and (work / "data" / "x.npy").read_bytes() == b"2"
    assert oct((work / "nb.ipynb").stat().st_mode & 0o777) == "0o644"
    (work / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        write_files(check_files([{"name": "link/evil", "blob": 0}], 1), [b"x"], work)
    assert not any(outside.iterdir())


def test_the_judge_sends_regular_files_by_relative_name_and_caps_them(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "d").mkdir(parents=True)
    (sub / "nb.ipynb").write_bytes(b"{}")
    (sub / "d" / "m.pt").write_bytes(b"12345")
    (sub / "host").symlink_to("/etc")
    assert submission_files(sub, 100) == [("d/m.pt", b"12345"), ("nb.ipynb", b"{}")]
    with pytest.raises(Exception, match="over the work dir"):
        submission_files(sub, 6)


def test_warm_env_and_model_fields_are_checked() -> None:
    check_warm({"type": "warm", "max_files_bytes": 10, "preimport": ["numpy", "torch"]})
    for bad in ({"type": "warm", "max_files_bytes": 10, "preimport": ["os"]}, {"type": "warm", "preimport": []}):
        with pytest.raises(ValueError):
            check_warm(bad)
    assert check_job_env({"GRADER_SEED": "3"}) == {"GRADER_SEED": "3"}
    for env in ({"LD_PRELOAD": "/work/x.so"}, {"GRADER_SEED": 3}, ["GRADER_SEED"]):
        with pytest.raises(ValueError):
            check_job_env(env)
    assert check_models({"models": ["m/a.pt"], "models_timeout_s": 60}) == ["m/a.pt"]
    for start in ({"models": ["../a.pt"]}, {"models": "a.pt"}, {"models": ["a.pt"], "models_timeout_s": 0}):
        with pytest.raises(ValueError):
            check_models(start)
