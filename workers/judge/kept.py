"""The ``artifacts`` fixture: PNGs a hidden test draws from the student's outputs, kept with the run.

Files go to the job's artifacts folder as ``NAME.png``; ``records()`` is what the judge's result
lists (and the pipeline hands on to whoever stores the run). Caps bound what one run can keep.
Each record names the test whose body drew it (``test``; None outside a test's body, e.g. in a
fixture): the rubric maps that test to the item whose visibility decides who sees the picture.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from grader.grading.job_schema import ArtifactRecord

from . import artifacts as draw
from .api import ArtifactError

MAX_ARTIFACTS = 16
MAX_TOTAL_BYTES = 64 * 2**20  # every PNG of one run together
MEDIA_TYPE = "image/png"


class Artifacts:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._kept: dict[str, ArtifactRecord] = {}
        self.test: str | None = None  # the node id of the test running now; set by the judge's plugin

    def image(
        self, name: str, pixels: np.ndarray, title: str = "", value_range: tuple[float, float] = (0.0, 1.0)
    ) -> None:
        """Save one image (H x W or H x W x 3; float in ``value_range`` or uint8) as ``name``."""
        self._check(name)
        self._save(name, draw.clean_title(title), draw.image_png(pixels, value_range))

    def grid(
        self,
        name: str,
        images: np.ndarray,
        nrow: int = 10,
        title: str = "",
        value_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """Save N images (N x C x H x W, C 1 or 3) tiled in rows of ``nrow`` as ``name``."""
        self._check(name)
        self._save(name, draw.clean_title(title), draw.grid_png(images, nrow, value_range))

    def records(self) -> list[ArtifactRecord]:
        """Every kept artifact, in the order saved (``test``: the node id of the test that drew it, or None)."""
        return list(self._kept.values())

    def _check(self, name: str) -> None:
        draw.check_name(name)
        if name in self._kept:
            raise ArtifactError(f"artifact {name!r} was already saved in this run")
        if len(self._kept) >= MAX_ARTIFACTS:
            raise ArtifactError(f"a run keeps at most {MAX_ARTIFACTS} artifacts")

    def _save(self, name: str, title: str, png: bytes) -> None:
        used = sum(r.size_bytes for r in self._kept.values())
        if used + len(png) > MAX_TOTAL_BYTES:
            raise ArtifactError(f"a run's artifacts are at most {MAX_TOTAL_BYTES // 2**20} MB together")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.png"
        tmp = path.with_name(f".{name}.png.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, path)  # a half-written PNG is never listed
        self._kept[name] = ArtifactRecord(
            name=name,
            title=title,
            media_type=MEDIA_TYPE,
            sha256=hashlib.sha256(png).hexdigest(),
            size_bytes=len(png),
            path=path,
            test=self.test,
        )
