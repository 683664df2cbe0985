"""Draw CW1's hidden test set: the course's digits (``digits.py``) from a secret seed, as ``.npy``.

    .venv/bin/python rubrics/cw1/make_hidden_set.py [HIDDEN_DIR] [--count N]

Writes ``HIDDEN_DIR/digits_test_images.npy`` (N x 1 x 8 x 8 float32 in [0, 1]) and
``HIDDEN_DIR/digits_test_labels.npy`` (N int64), by default into this coursework's ``hidden/``. The
seed is drawn fresh from the operating system and never written down: nobody, students included, can
draw the same digits again. The images are sent to the student's kernel at marking; the labels never
leave the judge. A real course writes them into its ``GRADER_HIDDEN_ROOT/cw1/``, outside the repo.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from digits import make_digits  # noqa: E402

IMAGES_FILE = "digits_test_images.npy"
LABELS_FILE = "digits_test_labels.npy"
DEFAULT_COUNT = 600  # 60 of each digit: one image is 1/6 of a percentage point


def write_hidden_set(hidden_dir: Path, count: int = DEFAULT_COUNT, seed: int | None = None) -> tuple[Path, Path]:
    """Draw ``count`` digits from ``seed`` (a fresh 128-bit secret when None) into ``hidden_dir``."""
    if count < 10:
        raise ValueError("the hidden set needs at least one image of each digit (count >= 10)")
    images, labels = make_digits(count, secrets.randbits(128) if seed is None else seed)
    hidden_dir.mkdir(parents=True, exist_ok=True)
    images_path, labels_path = hidden_dir / IMAGES_FILE, hidden_dir / LABELS_FILE
    np.save(images_path, images[:, None], allow_pickle=False)
    np.save(labels_path, labels, allow_pickle=False)
    return images_path, labels_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hidden_dir", nargs="?", type=Path, default=HERE / "hidden")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    args = parser.parse_args(argv)
    try:
        for path in write_hidden_set(args.hidden_dir, args.count):
            print(f"wrote {path}")
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
