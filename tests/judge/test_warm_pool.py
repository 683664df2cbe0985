"""The worker's launcher comes from its settings: cold judges by default, else one warm pool per
process (kept across jobs). A pool starts nothing before its first job or ``warm_for``."""

from __future__ import annotations

from grader.grading.job_schema import JudgeJob, job_warm_key
from grader.settings import get_settings
from workers.grade_job import judge_launcher
from workers.judge.launcher import SubprocessJudge
from workers.judge.warm_pool import WarmJudges


def test_the_worker_keeps_one_pool_when_asked_for_warm_judges() -> None:
    assert isinstance(judge_launcher(get_settings().model_copy(update={"warm_judges": 0})), SubprocessJudge)
    settings = get_settings().model_copy(update={"warm_judges": 2})
    pool = judge_launcher(settings)
    try:
        assert isinstance(pool, WarmJudges) and pool.size == 2
        assert judge_launcher(settings) is pool
        assert pool.wait_ready(0) and not pool._units  # nothing started yet
    finally:
        pool.close()


def test_gpu_jobs_and_other_limits_have_no_warm_key(tmp_path) -> None:
    job = JudgeJob(
        coursework="cw",
        hidden_dir=tmp_path,
        submission_dir=tmp_path,
        notebook=None,
        mode="full",
        runtime_dir=tmp_path,
        runner_dir=tmp_path,
        result_path=tmp_path / "r.json",
    )
    assert job_warm_key(job) is not None
    assert job_warm_key(job.model_copy(update={"gpu": True})) is None
    tighter = job.model_copy(update={"limits": job.limits.model_copy(update={"memory_mb": 1024})})
    assert job_warm_key(tighter) != job_warm_key(job)
    assert job_warm_key(job.model_copy(update={"backend": "docker"})) != job_warm_key(job)


def test_the_pool_learns_which_slow_modules_notebooks_import(tmp_path) -> None:
    import nbformat

    from grader.grading.job import notebook_imports

    cells = ["import numpy as np", "def f():\n    from torch import nn\n    return nn", "import os, math", "!pip x"]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    assert notebook_imports(path) == ["numpy", "torch"]
    path.write_text("not json")
    assert notebook_imports(path) == []
