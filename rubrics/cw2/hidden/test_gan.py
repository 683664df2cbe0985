"""Part 2: the submitted generator and discriminator, loaded in the student's kernel, on noise and
images the judge chooses. The generated-images item is a suggestion the marker confirms, from the
grids its test draws (so they share its after-release visibility). The real images are the hidden
font digits (conftest.py): tests using them are hidden-data tests, so their messages never say what
the student's code returned."""

import numpy as np
import pytest
from conftest import D_FILE, G_FILE, array, draw_for_markers, fixed_noise, gan_training_images

GENERATE = """
images = model(torch.tensor(z)).float()
"""
SCORE = """
scores = model(torch.tensor(x)).float()
"""


def generate(kernel, z: np.ndarray, hidden_data: bool = False) -> np.ndarray:
    """The generator's images for ``z``; in a hidden-data test (``hidden_data``) the message leaves out
    the shape the generator returned."""
    images = array(kernel.with_file(G_FILE, GENERATE, inputs={"z": z}, outputs=["images"])["images"])
    want = (len(z), 3, 32, 32)
    got = "" if hidden_data or images is None else f" (got {tuple(images.shape)})"
    assert images is not None and images.shape == want, (
        f"the generator must map noise of shape {z.shape} to images of shape {want}{got}"
    )
    assert np.all(np.isfinite(images)), "the generator's images contain NaN or infinite values"
    return images


@pytest.fixture(scope="session")
def fixed_samples(kernel):
    """The generator on the fixed noise, run once for both tests that need it: (images, None), or
    (None, the failure) for test_generator to report as its own."""
    try:
        return generate(kernel, fixed_noise()), None
    except Exception as exc:  # re-raised by test_generator
        return None, exc


def test_generator(fixed_samples):
    images, failure = fixed_samples
    if failure is not None:
        raise failure
    assert images.min() >= -1 - 1e-4 and images.max() <= 1 + 1e-4, (
        "the generator's images from the fixed noise are not in [-1, 1] (end with tanh)"
    )


def test_discriminator(kernel, gan_real, rng):
    real = gan_real[rng.choice(len(gan_real), size=32, replace=False)]
    noise = rng.uniform(-1, 1, real.shape).astype(np.float32)
    x = np.concatenate([real, noise]).astype(np.float32)
    scores = array(kernel.with_file(D_FILE, SCORE, inputs={"x": x}, outputs=["scores"])["scores"])
    assert scores is not None and scores.size == len(x), (
        f"the discriminator must give one score per image ({len(x)} images)"
    )
    assert np.all(np.isfinite(scores)), "the discriminator's scores contain NaN or infinite values"


# --------------------------------------------------------------------------------------------------
# Generated images (suggested): diversity and closeness to real digits, on noise drawn for this run


COLLAPSE = 0.35  # diversity below this share of the real digits' is mode collapse (reference 1.04 to 1.11,
# an untrained G 0.013)
# (closeness ratio at most, suggested share), best first, relative to the hidden font digits' distance
# to the nearest training digit: the reference (15 CPU epochs) 0.92 to 0.99 over 20 runs, an untrained
# generator 2.95 (the generator of tests/cw2_submissions.py's mode_collapse sample 2.27, collapsed anyway)
QUALITY = [(1.35, 1.0), (1.65, 0.8), (2.1, 0.6)]


def mean_pairwise(a: np.ndarray) -> float:
    flat = a.reshape(len(a), -1)
    sq = (flat**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * flat @ flat.T, 0)
    return float(np.sqrt(d2)[np.triu_indices(len(a), 1)].mean())


def nearest(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    fa, fr = a.reshape(len(a), -1), ref.reshape(len(ref), -1)
    d2 = (fa**2).sum(1)[:, None] + (fr**2).sum(1)[None, :] - 2 * fa @ fr.T
    return np.sqrt(np.maximum(d2, 0).min(axis=1))


def shapes(images: np.ndarray) -> np.ndarray:
    """Where the ink is, colours aside: each image's channel mean scaled to [0, 1] (the digits are
    brighter than their backgrounds in every channel, so this gives back the digit's shape)."""
    grey = images.mean(axis=1)
    low, high = grey.min(axis=(1, 2), keepdims=True), grey.max(axis=(1, 2), keepdims=True)
    return (grey - low) / np.maximum(high - low, 1e-6)


def image_scores(images: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """(diversity, closeness): the generated images' mean pairwise distance relative to the hidden
    images' (in colour), and their shapes' mean distance to the nearest training shape relative to
    the hidden images' (colours are drawn at random, so only shapes can be near)."""
    train = shapes(gan_training_images())
    diversity = mean_pairwise(images) / mean_pairwise(real)
    closeness = float(nearest(shapes(images), train).mean() / nearest(shapes(real), train).mean())
    return diversity, closeness


def suggestion(images: np.ndarray, real: np.ndarray) -> tuple[float, str]:
    """The share of the item the judge suggests for these samples, and why."""
    diversity, closeness = image_scores(images, real)
    if diversity < COLLAPSE:
        return 0.2, (
            f"mode collapse: samples from different noise are nearly identical (diversity "
            f"{diversity:.2f} of the real digits')"
        )
    for edge, share in QUALITY:
        if closeness <= edge:
            return share, (
                f"diversity {diversity:.2f} of the real digits'; distance to the nearest "
                f"training digit {closeness:.2f} times the real digits' (band: at most {edge:g})"
            )
    return 0.4, (
        f"diversity {diversity:.2f} of the real digits'; samples are far from real digits "
        f"(distance to the nearest training digit {closeness:.2f} times the real digits')"
    )


def test_generated_images(kernel, judge_noise, gan_real, fixed_samples, credit, artifacts):
    images = np.clip(generate(kernel, judge_noise, hidden_data=True), -1, 1)
    share, message = suggestion(images, gan_real)
    # The marker decides 2.1c from these grids: drawn by this item's test, they are its output.
    draw_for_markers(
        lambda: artifacts.grid(
            "gan-fixed-noise",
            np.clip(fixed_samples[0] if fixed_samples[0] is not None else generate(kernel, fixed_noise(), True), -1, 1),
            nrow=10,
            value_range=(-1, 1),
            title="2.1c Generator samples from the fixed noise (10 x 10)",
        )
    )
    draw_for_markers(
        lambda: artifacts.grid(
            "gan-judge-noise",
            images[:100],
            nrow=10,
            value_range=(-1, 1),
            title="2.1c Generator samples from noise drawn for this grading run (10 x 10)",
        )
    )
    credit.score(share, message)
