"""The artifacts fixture's drawing and keeping: PNGs decode to the pixels asked for, bad input is refused."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from workers.judge import artifacts as draw
from workers.judge.api import ArtifactError
from workers.judge.kept import MAX_ARTIFACTS, Artifacts


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image)


def test_grey_float_image_maps_0_1_to_0_255():
    pixels = np.array([[0.0, 0.5, 1.0], [0.25, 2.0, -1.0]], dtype=np.float32)
    got = decode(draw.image_png(pixels))
    assert got.shape == (2, 3) and got.dtype == np.uint8
    assert got.tolist() == [[0, 128, 255], [64, 255, 0]]  # out of range: clipped


def test_rgb_uint8_image_is_kept_exactly():
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    assert np.array_equal(decode(draw.image_png(pixels)), pixels)


def test_nan_draws_as_the_low_end_and_value_range_maps():
    pixels = np.array([[np.nan, -1.0, 0.0, 1.0]])
    assert decode(draw.image_png(pixels, value_range=(-1, 1))).tolist() == [[0, 0, 128, 255]]


def test_grid_tiles_in_rows_of_nrow_with_padding():
    images = np.zeros((5, 1, 3, 4), dtype=np.float32)
    for k in range(5):
        images[k] = (k + 1) / 5
    got = decode(draw.grid_png(images, nrow=2))
    pad = draw.GRID_PADDING
    assert got.shape == (3 * (3 + pad) + pad, 2 * (4 + pad) + pad)  # 3 rows of 2
    for k in range(5):
        top, left = pad + (k // 2) * (3 + pad), pad + (k % 2) * (4 + pad)
        tile = got[top : top + 3, left : left + 4]
        assert (tile == round((k + 1) / 5 * 255)).all(), k
    assert (got[:pad] == 0).all() and (got[:, :pad] == 0).all()
    last = got[pad + 2 * (3 + pad) :, pad + (4 + pad) :]  # the sixth place is empty
    assert (last == 0).all()


def test_rgb_grid_from_minus_one_one():
    images = -np.ones((2, 3, 2, 2), dtype=np.float64)
    images[1, 0] = 1.0  # red
    got = decode(draw.grid_png(images, nrow=10, value_range=(-1, 1)))
    assert got.shape == (2 + 2 * 2, 2 + 2 * 4, 3)
    assert got[2:4, 2:4].tolist() == [[[0, 0, 0]] * 2] * 2
    assert got[2:4, 6:8].tolist() == [[[255, 0, 0]] * 2] * 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: draw.image_png(np.zeros((2, 2, 4))),  # four channels
        lambda: draw.image_png(np.zeros(5)),
        lambda: draw.image_png([[0.0, 1.0]]),  # not an array
        lambda: draw.image_png(np.zeros((2, 2), dtype=np.int64)),
        lambda: draw.image_png(np.zeros((2, 2), dtype=bool)),
        lambda: draw.image_png(np.zeros((1, draw.MAX_SIDE + 1), dtype=np.uint8)),
        lambda: draw.image_png(np.zeros((2, 2)), value_range=(1, 1)),
        lambda: draw.grid_png(np.zeros((2, 2, 4, 4))),  # two channels
        lambda: draw.grid_png(np.zeros((4, 4, 1))),
        lambda: draw.grid_png(np.zeros((0, 1, 4, 4))),
        lambda: draw.grid_png(np.zeros((2, 1, 0, 4))),
        lambda: draw.grid_png(np.zeros((2, 1, 4, 4)), nrow=0),
        lambda: draw.grid_png(np.zeros((2, 1, 4, 4)), nrow=True),
        lambda: draw.grid_png(np.zeros((draw.MAX_TILES + 1, 1, 1, 1))),
        lambda: draw.grid_png(np.zeros((300, 1, 28, 28), dtype=np.uint8), nrow=300),  # 9002 px wide
    ],
)
def test_bad_arrays_are_refused_with_an_artifact_error(call):
    with pytest.raises(ArtifactError):
        call()


@pytest.mark.parametrize("name", ["", "A", "a b", "../x", "x.png", "a" * 65, 3, None, "é"])
def test_names_are_checked(tmp_path, name):
    with pytest.raises(ArtifactError):
        Artifacts(tmp_path).image(name, np.zeros((2, 2)))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_kept_artifacts_are_files_with_records(tmp_path):
    kept = Artifacts(tmp_path / "artifacts")
    kept.grid("samples", np.ones((4, 1, 2, 2)), nrow=2, title="Generated digits\nsecond line ignored")
    kept.image("one-image_2", np.zeros((3, 3, 3), dtype=np.uint8))
    records = kept.records()
    assert [r.name for r in records] == ["samples", "one-image_2"]
    assert records[0].title == "Generated digits" and records[1].title == ""
    for r in records:
        data = (tmp_path / "artifacts" / f"{r.name}.png").read_bytes()
        assert r.path == tmp_path / "artifacts" / f"{r.name}.png"
        assert r.media_type == "image/png" and r.size_bytes == len(data)
        assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["one-image_2.png", "samples.png"]


def test_a_name_is_saved_once_and_the_count_is_capped(tmp_path):
    kept = Artifacts(tmp_path)
    kept.image("a", np.zeros((1, 1)))
    with pytest.raises(ArtifactError, match="already saved"):
        kept.image("a", np.ones((1, 1)))
    for k in range(MAX_ARTIFACTS - 1):
        kept.image(f"n{k}", np.zeros((1, 1)))
    with pytest.raises(ArtifactError, match="at most"):
        kept.image("one-too-many", np.zeros((1, 1)))
    assert len(kept.records()) == MAX_ARTIFACTS
    assert decode((tmp_path / "a.png").read_bytes()).tolist() == [[0]]  # the first one stands
