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
