"""`grader up`'s banner: what it says the printed status curl shows a student."""

from __future__ import annotations

from pathlib import Path

from grader.embedded.banner import Sample, service_banner
from grader.embedded.demo import DemoAccount, DemoUser
from grader.users.models import Role


def test_the_status_curl_is_said_to_show_the_visible_score_not_the_score_before_release():
    student = DemoAccount(DemoUser("student1", "Demo Student One", Role.student, "demo-0001"), token="grd_x")
    banner = service_banner(
        url="http://127.0.0.1:8000",
        database="sqlite://",
        courseworks=["cw1"],
        logs=[],
        accounts=[student],
        sample=Sample("cw1", Path("/r/cw1/solution.ipynb")),
    )
    lines = banner.splitlines()
    status_curl = next(n for n, line in enumerate(lines) if line.strip().endswith("/submissions/mine"))
    said = " ".join(lines[status_curl - 2 : status_curl])  # what the banner says just before the curl
    assert "visible_score" in said and "score stays null until the marks are released" in said, said
    assert not said.rstrip(":").endswith("and score"), said


def test_the_banner_says_what_happens_to_courseworks_that_ask_for_a_gpu():
    from grader.embedded.banner import GpuUse, gpu_line

    assert gpu_line(GpuUse(None, {"cw2": "cpu"})) == (
        "  GPU:         none here: cw2 asks for one and is graded on the CPU worker instead, without a GPU "
        "(the rubric's fallback queue, at once)"
    )
    both = gpu_line(GpuUse(None, {"cw2": "cpu", "gpu_smoke": None}))
    assert both.endswith("; gpu_smoke waits for a GPU worker (no fallback queue)"), both
    assert gpu_line(GpuUse("GPU 0 (GPU-1)", {"cw2": "cpu"})) == (
        "  GPU:         GPU 0 (GPU-1): a worker of its own grades the gpu queue (cw2)"
    )
    assert gpu_line(GpuUse(None, {})) == "  GPU:         none here (no coursework asks for one)"
    banner = service_banner(
        url="http://x", database="sqlite://", courseworks=["cw2"], logs=[], accounts=[], sample=None,
        gpu=GpuUse(None, {"cw2": "cpu"}),
    )  # fmt: skip
    assert banner.splitlines()[5].startswith("  GPU:         none here: cw2")
