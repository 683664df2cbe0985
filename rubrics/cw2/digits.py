"""CW2's hidden digits: 8 x 8 grey-scale digits drawn from fonts, distorted, deterministic from a seed.

A copy of CW1's generator (``rubrics/cw1/digits.py``), so that this coursework stands alone. Every image
is one of the ten digits in one of the DejaVu, STIX or Computer Modern fonts that ship with matplotlib,
drawn large with a random stroke thickness, put through a random affine map (rotation, scale, shear,
translation), averaged down to 8 x 8 and given a little noise. The notebook trains on scikit-learn's
digits; ``rubrics/cw2/make_hidden_set.py`` draws the hidden set with this generator from a secret seed,
so no student can have the hidden digits (scikit-learn's held-out ones ship to every student).
"""

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

DIGIT_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
)
SIZE = 8  # the images' side
SCALE = 8  # glyphs are drawn at SIZE * SCALE pixels, then each SCALE x SCALE block is averaged
_fonts = {}


def _font(name, size):
    if (name, size) not in _fonts:
        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
        _fonts[name, size] = ImageFont.truetype(str(path), size)
    return _fonts[name, size]


def draw_digit(digit, rng):
    """One digit as a SIZE x SIZE float array in [0, 1], its font and distortions drawn from ``rng``."""
    big = SIZE * SCALE
    font = _font(DIGIT_FONTS[rng.integers(len(DIGIT_FONTS))], int(rng.integers(66, 80)))
    canvas = Image.new("L", (2 * big, 2 * big), 0)
    ImageDraw.Draw(canvas).text(
        (big, big), str(digit), fill=255, font=font, anchor="mm", stroke_width=int(rng.integers(1, 6)), stroke_fill=255
    )
    # The affine map from output pixels (centred) to canvas pixels: PIL wants the inverse map.
    angle = np.deg2rad(rng.uniform(-15, 15))
    scale = rng.uniform(0.85, 1.1, 2)
    shear = rng.uniform(-0.3, 0.3)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rotate @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(scale)
    inverse = np.linalg.inv(forward)
    shift = rng.uniform(-0.75, 0.75, 2) * SCALE  # up to 3/4 of an output pixel each way
    centre_out = np.array([big / 2, big / 2]) + shift
    offset = np.array([big, big]) - inverse @ centre_out
    coeffs = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    glyph = canvas.transform((big, big), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    pixels = np.asarray(glyph, dtype=np.float64).reshape(SIZE, SCALE, SIZE, SCALE).mean(axis=(1, 3)) / 255.0
    pixels = pixels / max(pixels.max(), 1e-6) * rng.uniform(0.8, 1.0)
    return np.clip(pixels + rng.normal(0.0, 0.05, pixels.shape), 0.0, 1.0)


def make_digits(n, seed):
    """``n`` digits from ``seed``: images (n, 8, 8) float32 in [0, 1] and labels (n,) int64, each digit
    n // 10 or n // 10 + 1 times, in random order. The same seed gives the same digits."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = np.stack([draw_digit(int(d), rng) for d in labels]) if n else np.zeros((0, SIZE, SIZE))
    return images.astype(np.float32), labels.astype(np.int64)
