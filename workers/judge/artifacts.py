"""Drawing artifacts: PNGs from the arrays a student's kernel returned. Pure functions, no files.

The arrays are the student's (their model's samples), so every shape, type and size is checked
before anything is drawn, and errors name shapes and types, never values.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
from PIL import Image

from .api import ArtifactError

NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
MAX_SIDE = 4096  # pixels, either side of a drawn PNG
MAX_TILES = 1024  # images in one grid
GRID_PADDING = 2  # pixels between and around a grid's tiles (as torchvision's make_grid)
TITLE_CHARS = 200


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ArtifactError(f"artifact names are 1-64 of a-z, 0-9, _ and -, not {str(name)[:80]!r}")
    return name


def clean_title(title: object) -> str:
    if not isinstance(title, str):
        raise ArtifactError("an artifact's title is a string")
    line = next((ln.strip() for ln in title.splitlines() if ln.strip()), "")
    return line[:TITLE_CHARS]


def to_uint8(pixels: object, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """uint8 as it is; floats mapped from ``value_range`` to 0..255, out-of-range values clipped and
    NaN drawn as the range's low end (a diverged model still gets a picture, and the marker sees it)."""
    if not isinstance(pixels, np.ndarray):
        raise ArtifactError(f"an artifact is drawn from a numpy array, not {type(pixels).__name__}")
    if pixels.dtype == np.uint8:
        return pixels
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ArtifactError(f"artifact pixels are float or uint8, not {pixels.dtype}")
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ArtifactError(f"value_range must be two finite numbers, low < high, not {value_range!r}")
    scaled = (np.nan_to_num(pixels.astype(np.float64), nan=lo, posinf=hi, neginf=lo) - lo) / (hi - lo)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_side(height: int, width: int) -> None:
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise ArtifactError(f"an artifact is at most {MAX_SIDE}x{MAX_SIDE} pixels, not {height}x{width}")


def encode_png(pixels: np.ndarray) -> bytes:
    """A uint8 HxW (grey) or HxWx3 (RGB) array as PNG bytes."""
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="L" if pixels.ndim == 2 else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def image_png(pixels: object, value_range: tuple[float, float] = (0.0, 1.0)) -> bytes:
    """One image: HxW (grey), HxWx1 or HxWx3 (RGB)."""
    shape = getattr(pixels, "shape", None)
    if shape is None or not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))):
        raise ArtifactError(f"an image is H x W or H x W x 3, not shape {shape}")
    _check_side(shape[0], shape[1])
    pixels = to_uint8(pixels, value_range)
    return encode_png(pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)


def grid_pixels(images: np.ndarray, nrow: int) -> np.ndarray:
    """N x C x H x W uint8 tiled in rows of ``nrow`` on a black ground: H' x W' (C 1) or H' x W' x 3."""
    n, c, h, w = images.shape
    cols, rows = min(n, nrow), math.ceil(n / nrow)
    pad = GRID_PADDING
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for k in range(n):
        top, left = pad + (k // nrow) * (h + pad), pad + (k % nrow) * (w + pad)
        canvas[top : top + h, left : left + w] = images[k].transpose(1, 2, 0)
    return canvas[:, :, 0] if c == 1 else canvas


def grid_png(images: object, nrow: int = 10, value_range: tuple[float, float] = (0.0, 1.0)) -> bytes:
    """N images (N x C x H x W, C 1 or 3) tiled in rows of ``nrow``."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] not in (1, 3):
        raise ArtifactError(f"grid images are N x C x H x W with C 1 or 3, not shape {shape}")
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ArtifactError(f"nrow is a positive int, not {nrow!r}")
    n, _, h, w = shape
    if not 1 <= n <= MAX_TILES:
        raise ArtifactError(f"a grid holds 1 to {MAX_TILES} images, not {n}")
    if h < 1 or w < 1:
        raise ArtifactError(f"grid images are at least 1x1 pixels, not {h}x{w}")
    cols, rows = min(n, nrow), math.ceil(n / nrow)
    _check_side(rows * (h + GRID_PADDING) + GRID_PADDING, cols * (w + GRID_PADDING) + GRID_PADDING)
    return encode_png(grid_pixels(to_uint8(images, value_range), nrow))
