"""Draw CW2's hidden digits: the font digits of ``digits.py`` from a secret seed, as ``.npy``.

    .venv/bin/python rubrics/cw2/make_hidden_set.py [HIDDEN_DIR] [--count N]

Writes ``HIDDEN_DIR/digits_hidden_images.npy`` (N x 8 x 8 float32 in [0, 1]), by default into this
coursework's ``hidden/``. The seed is drawn fresh from the operating system and never written down:
nobody, students included, can draw the same digits again. The hidden suite (``hidden/conftest.py``)
reads the file through the ``hidden_dir`` fixture and upscales the digits as the notebook does (28 x 28
for the VAE, coloured 32 x 32 for the GAN), moved and coloured anew for every grading run. Labels are
not kept: no CW2 test needs them. A real course writes the file into its ``GRADER_HIDDEN_ROOT/cw2/``,
outside the repo.
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

IMAGES_FILE = "digits_hidden_images.npy"
DEFAULT_COUNT = 300  # 30 of each digit; the VAE test reconstructs 100 of them per run


def write_hidden_set(hidden_dir: Path, count: int = DEFAULT_COUNT, seed: int | None = None) -> Path:
    """Draw ``count`` digits from ``seed`` (a fresh 128-bit secret when None) into ``hidden_dir``."""
    if count < 100:
        raise ValueError("the hidden suite reconstructs 100 digits per run (count >= 100)")
    images, _ = make_digits(count, secrets.randbits(128) if seed is None else seed)
    hidden_dir.mkdir(parents=True, exist_ok=True)
    path = hidden_dir / IMAGES_FILE
    np.save(path, images, allow_pickle=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hidden_dir", nargs="?", type=Path, default=HERE / "hidden")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    args = parser.parse_args(argv)
    try:
        print(f"wrote {write_hidden_set(args.hidden_dir, args.count)}")
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
