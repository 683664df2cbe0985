"""The job and result files between host and judge: written and read through one schema; a bad file is ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.grading import pipeline
from grader.grading.errors import InfrastructureError
from grader.grading.job import write_job_file
from grader.grading.job_schema import ArtifactRecord, JudgedTest, JudgeJob, JudgeResult, read_result, write_model
from grader.grading.limits import effective_limits
from grader.scoring.outcomes import TestOutcome
from workers.judge.launcher import SubprocessJudge


def test_the_job_file_the_host_writes_is_the_one_the_judge_reads(tmp_path: Path, cw1, settings):
    sandbox, execution = effective_limits(cw1.rubric, settings)
    job = write_job_file(tmp_path, tmp_path / "submission", cw1, settings, sandbox, execution, "bwrap", seed=7)
    read = JudgeJob.model_validate_json(job.job_file.read_text())
    assert (read.coursework, read.seed, read.result_path, read.limits) == ("cw1", 7, job.result_path, sandbox)
    assert job.job_file.stat().st_mode & 0o777 == 0o600


def test_a_result_round_trips(tmp_path: Path):
    passed = JudgedTest(outcome=TestOutcome.passed, fraction=0.5, message="half")
    result = JudgeResult(
        seed=3,
        tests={"t.py::a": passed},
        artifacts=[
            ArtifactRecord(name="a", media_type="image/png", sha256="0" * 64, size_bytes=1, path=tmp_path / "a.png")
        ],
    )
    write_model(tmp_path / "result.json", result)
    assert read_result(tmp_path / "result.json") == result
    assert pipeline.test_results(result)["t.py::a"].fraction == 0.5
    assert json.loads((tmp_path / "result.json").read_text())["tests"]["t.py::a"]["outcome"] == "passed"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "malformed"),
        ('{"seed": 1, "tests": {"t": {"outcome": "won"}}}', "tests.t.outcome"),
        ('{"seed": 1, "tests": {"t": {"outcome": "passed", "fraction": 2}}}', "tests.t.fraction"),
        ('{"seed": 1, "surprise": true}', "surprise"),
    ],
)
def test_a_malformed_result_is_an_infrastructure_error(tmp_path: Path, content: str, reason: str):
    (tmp_path / "result.json").write_text(content)
    with pytest.raises(InfrastructureError, match=reason):
        read_result(tmp_path / "result.json")


@pytest.mark.sandbox  # starts the judge (it refuses the job before any sandbox)
@pytest.mark.slow
def test_a_judge_that_writes_no_result_is_an_infrastructure_error(tmp_path: Path, cw1, settings):
    sandbox, execution = effective_limits(cw1.rubric, settings)
    job = write_job_file(tmp_path, tmp_path / "submission", cw1, settings, sandbox, execution, "bwrap", seed=7)
    job.job_file.write_text("{}")  # the judge refuses it: no result path to write to
    with pytest.raises(InfrastructureError, match="wrote no result"):
        SubprocessJudge().run(job, timeout_s=60)
