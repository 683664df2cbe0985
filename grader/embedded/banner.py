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


@dataclass(frozen=True)
class GpuUse:
    """What ``grader up`` does for the courseworks that ask for a GPU (rubric ``resources.gpu``).

    ``device``: the GPU a second worker is pinned to, or None (no GPU here). ``wanting``: each such
    coursework and its rubric's fallback queue (None: it has none, and waits for a GPU worker)."""

    device: str | None
    wanting: dict[str, str | None]


def gpu_line(use: GpuUse) -> str:
    """One line of the banner: which GPU grades what, or that there is none and what happens instead."""
    if not use.wanting:
        return f"  GPU:         {use.device or 'none here'} (no coursework asks for one)"
    wanting = ", ".join(sorted(use.wanting))
    if use.device is not None:
        return f"  GPU:         {use.device}: a worker of its own grades the gpu queue ({wanting})"
    moved = sorted(code for code, fallback in use.wanting.items() if fallback is not None)
    waiting = sorted(code for code, fallback in use.wanting.items() if fallback is None)
    said = []
    if moved:
        said.append(
            f"{', '.join(moved)} {'asks' if len(moved) == 1 else 'ask'} for one and "
            f"{'is' if len(moved) == 1 else 'are'} graded on the CPU worker instead, without a GPU "
            "(the rubric's fallback queue, at once)"
        )
    if waiting:
        said.append(f"{', '.join(waiting)} wait{'s' if len(waiting) == 1 else ''} for a GPU worker (no fallback queue)")
    return "  GPU:         none here: " + "; ".join(said)


def service_banner(
    *,
    url: str,
    database: str,
    courseworks: list[str],
    logs: list[Path],
    accounts: list[DemoAccount],
    sample: Sample | None,
    gpu: GpuUse | None = None,
) -> str:
    lines = [
        f"grader is running at {url}",
        f"  API docs:    {url}/docs  (OpenAPI: {url}/openapi.json)",
        f"  gradebook:   {database}",
        f"  courseworks: {', '.join(courseworks) or 'none'}",
        f"  logs:        {', '.join(str(p) for p in logs)}",
    ]
    if gpu is not None:
        lines.append(gpu_line(gpu))
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
