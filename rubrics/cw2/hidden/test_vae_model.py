"""Part 1: the submitted VAE_model.pth, loaded into the notebook's VAE (or as TorchScript) in the
student's kernel. The judge decodes the latent means itself, so a forward() that returns its input
earns nothing here. The images are the hidden font digits (conftest.py): these are hidden-data tests,
so no message says anything the student's code returned."""

import numpy as np
from conftest import VAE_FILE, array, binary_cross_entropy, draw_for_markers

RECONSTRUCT = """
out = model.encode(torch.tensor(x))
recon = model.decode(out[0]).float()
"""

# Mean binary cross-entropy per image above the least possible (the digits' own entropy), in nats,
# best band first, on the hidden font digits (a VAE trained on scikit-learn's digits reconstructs
# them less well than its own): the reference 31 to 39 over 20 runs; the MLP-only VAE of
# tests/cw2_submissions.py 49 to 62; the average digit 210 to 220; a VAE trained with the KL's sign
# flipped 186 to 196; an untrained VAE 445. Full marks up to about twice the reference's; half up to
# about halfway from the reference to the average digit.
BANDS = [(75.0, 1.0), (125.0, 0.5)]


def reconstruct(kernel, x: np.ndarray) -> np.ndarray:
    recon = array(kernel.with_file(VAE_FILE, RECONSTRUCT, inputs={"x": x}, outputs=["recon"])["recon"])
    assert recon is not None and recon.shape == x.shape, (
        f"decode(encode(x)[0]) must return images of the input's shape, {x.shape}"
    )
    assert np.all(np.isfinite(recon)), "the loaded VAE's reconstructions contain NaN or infinite values"
    assert recon.min() >= 0 and recon.max() <= 1, "the loaded VAE's reconstructions are not in [0, 1]"
    return recon


def test_vae_model(kernel, test_split, rng):
    reconstruct(kernel, test_split[rng.choice(len(test_split), size=32, replace=False)])


def draw_reconstructions(kernel, artifacts, test_split: np.ndarray) -> None:
    """For the 1.2b markers: 50 hidden digits (odd rows) above their reconstructions (even rows)."""
    batch = test_split[:50]
    recon = reconstruct(kernel, batch)
    rows = [block for i in range(0, 50, 10) for block in (batch[i : i + 10], recon[i : i + 10])]
    artifacts.grid(
        "vae-reconstructions",
        np.concatenate(rows),
        nrow=10,
        title="1.2b VAE: hidden digits (odd rows) and their reconstructions (even rows)",
    )


def test_reconstruction(kernel, test_split, credit, artifacts):
    recon = reconstruct(kernel, test_split)
    # Drawn by this item's test, the grid is its output (shown to the student with it, after release).
    draw_for_markers(lambda: draw_reconstructions(kernel, artifacts, test_split))
    x = test_split.astype(np.float64)
    floor = binary_cross_entropy(np.clip(x, 1e-12, 1 - 1e-12), x).sum(axis=(1, 2, 3))
    excess = float(np.mean(binary_cross_entropy(recon, x).sum(axis=(1, 2, 3)) - floor))
    for edge, share in BANDS:
        if excess <= edge:
            credit.score(
                share,
                f"reconstruction error on the hidden test digits: {excess:.1f} nats per image "
                f"above the least possible (band: at most {edge:g})",
            )
            return
    raise AssertionError(
        f"reconstruction error on the hidden test digits: {excess:.1f} nats per image above "
        f"the least possible, over {BANDS[-1][0]:g}: no marks"
    )
