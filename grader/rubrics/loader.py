"""Finding and loading rubrics, with errors that name the file, the field and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from grader.rubrics.model import Rubric
from grader.settings import Settings


class RubricError(Exception):
    """A rubric that cannot be used. ``problems`` holds (field, reason) pairs."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {field}: {reason}" if field else f"{path}: {reason}" for field, reason in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class CourseworkFiles:
    """Where one coursework's files are."""

    rubric: Rubric
    folder: Path  # rubrics/<cw>/
    hidden: Path  # the hidden suite (tests and hidden data)

    @property
    def skeleton(self) -> Path:
        """The blank submission: a zip where the coursework needs model files, else the notebook."""
        zipped = self.folder / "skeleton.zip"
        return zipped if zipped.is_file() else self.folder / "skeleton.ipynb"

    @property
    def solution(self) -> Path:
        """The reference submission: a zip where the coursework needs model files, else the notebook."""
        zipped = self.folder / "solution.zip"
        return zipped if zipped.is_file() else self.folder / "solution.ipynb"


def parse_rubric(path: Path) -> Rubric:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError(path, [("", "file not found")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RubricError(path, [("", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise RubricError(path, [("", "the top level must be a mapping")])
    try:
        return Rubric.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            problems.append((field, err["msg"]))
        raise RubricError(path, problems) from None


def load_coursework(coursework: str, settings: Settings) -> CourseworkFiles:
    folder = settings.rubrics_dir / coursework
    path = folder / "rubric.yaml"
    if not path.is_file():
        known = (
            sorted(p.name for p in settings.rubrics_dir.iterdir() if (p / "rubric.yaml").is_file())
            if settings.rubrics_dir.is_dir()
            else []
        )
        raise RubricError(path, [("", f"no coursework {coursework!r}; known: {', '.join(known) or 'none'}")])
    rubric = parse_rubric(path)
    if rubric.coursework != coursework:
        raise RubricError(path, [("coursework", f"is {rubric.coursework!r} but the folder is {coursework!r}")])
    hidden = (settings.hidden_root / coursework) if settings.hidden_root else folder / "hidden"
    if not hidden.is_dir():
        raise RubricError(path, [("", f"hidden suite {hidden} not found")])
    return CourseworkFiles(rubric=rubric, folder=folder, hidden=hidden)
