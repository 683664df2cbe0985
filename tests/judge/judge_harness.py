"""``python judge_harness.py JOB.json FAKE``: one grading run whose runner is the stand-in ``fakes/FAKE.py``."""

import shutil
import sys
import tempfile
from pathlib import Path

from grader.grading.job_schema import JudgeJob, write_model
from workers.judge.run import run_job
from workers.judge.staging import RUNNER_SOURCE

FAKES = Path(__file__).with_name("fakes")

if __name__ == "__main__":
    job = JudgeJob.model_validate_json(Path(sys.argv[1]).read_text())
    source = Path(tempfile.mkdtemp())
    shutil.copyfile(FAKES / f"{sys.argv[2]}.py", source / "boot.py")
    shutil.copyfile(FAKES / "common.py", source / "common.py")
    shutil.copyfile(RUNNER_SOURCE / "wire.py", source / "wire.py")
    write_model(job.result_path, run_job(job, runner_source=source))
    shutil.rmtree(source)
