"""Part 1.1b: loss_function_VAE(recon_x, x, mu, logvar, beta) on inputs the judge chooses."""

import numpy as np
import pytest
from conftest import FIRST_TENSOR, binary_cross_entropy

LOSS = (
    FIRST_TENSOR
    + """
import torch
args = [torch.tensor(a) for a in (recon, x, mu, lv)]
losses = [float(_first(loss_function_VAE(*args, b))) for b in betas]
"""
)
RTOL = 1e-3


@pytest.fixture(scope="module")
def case(test_split, run_seed):
    """Inputs, the losses for each beta, and the expected terms (BCE, KL read as log-variance, KL read
    as variance: a notebook that consistently uses the variance loses only the log-variance mark)."""
    rng = np.random.default_rng([run_seed, 0x1055])
    n, d = 12, 6
    x = test_split[rng.choice(len(test_split), size=n, replace=False)]
    recon = (1 / (1 + np.exp(-rng.normal(0, 1.5, x.shape)))).astype(np.float32)
    mu = rng.normal(0, 1, (n, d)).astype(np.float32)
    lv = rng.uniform(0.2, 1.5, (n, d)).astype(np.float32)
    betas = [1.0, 0.0, float(rng.uniform(0.3, 0.9)), float(rng.uniform(2.0, 5.0))]
    return dict(
        n=n,
        inputs={"recon": recon, "x": x, "mu": mu, "lv": lv, "betas": betas},
        betas=betas,
        bce=float(binary_cross_entropy(recon.astype(np.float64), x.astype(np.float64)).sum()),
        kl_logvar=float(-0.5 * np.sum(1 + lv - mu.astype(np.float64) ** 2 - np.exp(lv.astype(np.float64)))),
        kl_variance=float(-0.5 * np.sum(1 + np.log(lv.astype(np.float64)) - mu.astype(np.float64) ** 2 - lv)),
    )


@pytest.fixture(scope="module")
def losses(student, case):
    got = student.run(LOSS, inputs=case["inputs"], outputs=["losses"])["losses"]
    assert isinstance(got, list) and len(got) == len(case["betas"]), "loss_function_VAE must return a number"
    return np.asarray(got, dtype=np.float64)


def close(got: float, want: float, n: int) -> bool:
    """Summed over the batch as asked, or averaged over it (accepted too)."""
    return any(np.isclose(got, w, rtol=RTOL, atol=1e-3) for w in (want, want / n))


def test_loss_kl(losses, case):
    assert np.all(np.isfinite(losses)), "loss_function_VAE returned NaN or infinity"
    assert any(close(losses[0], case["bce"] + kl, case["n"]) for kl in (case["kl_logvar"], case["kl_variance"])), (
        "with beta = 1, loss_function_VAE is not the binary cross-entropy plus the KL divergence "
        "(check the KL term and its sign)"
    )


def test_loss_beta(losses, case):
    assert np.all(np.isfinite(losses)), "loss_function_VAE returned NaN or infinity"
    assert close(losses[1], case["bce"], case["n"]), (
        "with beta = 0, loss_function_VAE is not the binary cross-entropy summed over the batch"
    )
    l0, (b1, b2) = losses[1], case["betas"][2:]
    k1, k2 = (losses[2] - l0) / b1, (losses[3] - l0) / b2
    assert abs(k1) > 1e-3 and np.isclose(k1, k2, rtol=RTOL, atol=1e-3), (
        "loss_function_VAE does not weight the KL term by beta (loss = reconstruction + beta * KL)"
    )
