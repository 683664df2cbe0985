"""What ``grader up`` prints once the service answers: where it is, who to be, what to try."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from grader.embedded.demo import DemoAccount


@dataclass(frozen=True)
class Sample:
    """A coursework and its reference submission: what the printed curl submits."""

    coursework: str
    path: Path


def service_banner(
    *,
    url: str,
    database: str,
    courseworks: list[str],
    logs: list[Path],
    accounts: list[DemoAccount],
    sample: Sample | None,
) -> str:
    lines = [
        f"grader is running at {url}",
        f"  API docs:    {url}/docs  (OpenAPI: {url}/openapi.json)",
        f"  gradebook:   {database}",
        f"  courseworks: {', '.join(courseworks) or 'none'}",
        f"  logs:        {', '.join(str(p) for p in logs)}",
    ]
    if accounts:
        lines += ["", "Demo accounts (fresh tokens every start; the previous start's no longer work):"]
        width = max(len(a.user.username) for a in accounts)
        for a in accounts:
            who = a.user.role.value + (f", roster {a.user.external_id}" if a.user.external_id else "")
            lines.append(f"  {a.user.username.ljust(width)}  {a.token}  {a.user.name} ({who})")
        lines += ["", f"Dashboard: {url}/  (sign in with these; fresh passwords every start):"]
        lines += [f"  {a.user.username.ljust(width)}  password {a.password}" for a in accounts if a.password]
    student = next((a for a in accounts if a.user.external_id), None)
    if student is not None and sample is not None:
        auth = shlex.quote(f"Authorization: Bearer {student.token}")
        base = f"{url}/api/v1/courseworks/{sample.coursework}/submissions"
        lines += [
            "",
            f"Submit the {sample.coursework} reference solution as {student.user.username} (the reply is a receipt):",
            f"  curl -sS -H {auth} -F {shlex.quote(f'file=@{sample.path}')} {base}",
            # A student reads the visible items' score before release; `score` is null until then.
            "Read its grading status (received, queued, running, graded) and, once graded, its visible_score",
            "(the visible items alone; score stays null until the marks are released to the student):",
            f"  curl -sS -H {auth} {base}/mine",
            f"(one submission: {url}/api/v1/submissions/<id from the receipt>)",
        ]
    lines += ["", "Ctrl-C stops the service; the gradebook stays for the next start.", ""]
    return "\n".join(lines)
