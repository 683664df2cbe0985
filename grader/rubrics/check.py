"""``grader rubric check``: grade the reference and the skeleton and compare with what they must get."""

from __future__ import annotations

from collections.abc import Iterator

from grader.grading.pipeline import grade_submission
from grader.grading.worker_side import JudgeLauncher
from grader.rubrics.loader import CourseworkFiles
from grader.settings import Settings

SKELETON_MAX_SHARE = 0.05  # the blank skeleton may earn at most this share of the auto points


def check_rubric(
    cw: CourseworkFiles, settings: Settings, *, judge: JudgeLauncher, backend: str | None = None
) -> Iterator[tuple[str, bool]]:
    rubric = cw.rubric
    yield (f"points add up: {len(rubric.items)} items in {len(rubric.parts)} parts = {rubric.total_points:g}", True)
    in_kernel = [i.id for i in rubric.auto_items if i.auto is not None and i.auto.checked_in_kernel]
    if in_kernel:  # imported checks the judge could not take over (docs/importing.md): said, not failed
        yield (f"checked inside the student's kernel, not tamper-proof: {', '.join(in_kernel)}", True)
    if rubric.unassessed:  # the model refused any other kind of weight-0 rubric before this point
        yield ("unassessed (weight 0): every item auto and visible, no late penalty, feedback at once", True)
    for label, path in (("reference", cw.solution), ("skeleton", cw.skeleton)):
        if not path.is_file():
            yield (f"{label}: {path} is missing", False)
            continue
        report = grade_submission(path, cw, settings, judge=judge, backend=backend)
        if report.status != "graded":
            yield (f"{label}: not graded ({report.error_kind}): {report.error}", False)
            continue
        assert report.marks is not None
        applied = [p.id for p in report.marks.penalties if p.applied]
        if label == "reference":
            short = [
                f"{i.id} {i.score:g}/{i.max_score:g} ({i.status.value}: {i.message})"
                for i in report.marks.items
                if i.kind == "auto" and i.score < i.max_score
            ]
            good = not short and not applied
            detail = "; ".join(short + [f"penalty {p}" for p in applied])
            yield (
                f"reference earns {report.score:g}/{rubric.auto_max_score:g} auto points"
                + (f": short on {detail}" if detail else ""),
                good,
            )
        else:
            cap = SKELETON_MAX_SHARE * rubric.auto_max_score
            yield (
                f"skeleton earns {report.score:g}/{rubric.auto_max_score:g} auto points (at most {cap:g})",
                report.score <= cap,
            )
