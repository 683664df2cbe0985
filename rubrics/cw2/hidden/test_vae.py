"""Part 1.1a: the VAE class. Judged on a fresh ``VAE()`` of the notebook (seeded), not on the saved
weights, so these marks do not depend on the model file; the file is judged by test_vae_model.py."""

import numpy as np
import pytest
from conftest import FIRST_TENSOR, array

# (module class names that count, what to call them)
CONVOLUTIONS = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
NORMALISATION = ("BatchNorm", "Dropout", "InstanceNorm", "LayerNorm", "GroupNorm")

MODULES = """
kinds = [type(m).__name__ for m in model.modules()]
kernels = [list(m.weight.shape) for m in model.modules()
           if type(m).__name__.startswith(('Conv', 'ConvTranspose')) and getattr(m, 'weight', None) is not None]
"""


def test_vae_uses_convolutions(kernel):
    got = kernel.with_class("VAE", MODULES, outputs=["kinds", "kernels"])
    kinds, kernels = got["kinds"] or [], got["kernels"] or []
    spatial = [k for k in kernels if len(k) >= 3 and int(np.prod(k[2:])) > 1]
    assert any(k in CONVOLUTIONS for k in kinds) and spatial, (
        "the VAE has no convolution with a spatial kernel (an MLP-only VAE earns no CNN marks)"
    )


def test_vae_batchnorm_or_dropout(kernel):
    kinds = kernel.with_class("VAE", MODULES, outputs=["kinds", "kernels"])["kinds"] or []
    assert any(word in k for k in kinds for word in NORMALISATION), "the VAE uses neither batch norm nor dropout"


ENCODE = (
    FIRST_TENSOR
    + """
out = model.encode(torch.tensor(x))
pair = isinstance(out, (tuple, list)) and len(out) == 2
mu = lv = mu1 = mu_again = None
if pair:
    mu, lv = out
    mu_again = model.encode(torch.tensor(x))[0]
    mu1 = model.encode(torch.tensor(x[:1]))[0]
"""
)


def test_encode(kernel, test_split, rng, credit):
    x = test_split[rng.choice(len(test_split), size=16, replace=False)]
    got = kernel.with_class("VAE", ENCODE, inputs={"x": x}, outputs=["pair", "mu", "lv", "mu_again", "mu1"])
    assert got["pair"], "encode(x) must return two tensors, (mu, logvar)"
    mu, lv = array(got["mu"]), array(got["lv"])
    assert mu is not None and lv is not None, "encode(x) must return two tensors, (mu, logvar)"
    # A hidden-data test: no message says what the student's code returned (a shape can carry a pixel).
    assert mu.ndim == 2 and mu.shape[0] == len(x) and lv.shape == mu.shape, (
        f"encode(x) for {len(x)} images must return two tensors of shape ({len(x)}, latent_dim)"
    )
    credit.partial(0.5, "encode returns mu and logvar of the right shape, but see the other checks")
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(lv)), "encode(x) returned NaN or infinite values"
    again, one = array(got["mu_again"]), array(got["mu1"])
    assert again is not None and np.allclose(again, mu, atol=1e-5), (
        "encode(x) gave a different mu for the same images (in evaluation mode mu must not be random)"
    )
    assert one is not None and np.allclose(one[0], mu[0], atol=1e-4), (
        "in evaluation mode, encode must treat each image on its own (one image gave a different mu)"
    )
    assert mu.std(axis=0).max() > 1e-6, "encode(x) returns the same mu for every image"


# Many samples of reparametrize for a few (mu, logvar) pairs; the seed is fixed so the test is repeatable.
REPARAM = """
model.train()  # some implementations sample only in training mode
d = model.encode(torch.zeros(2, 1, 28, 28))[0].shape[1]
m = torch.tensor(mus).repeat_interleave(n, dim=0)[:, :1].repeat(1, d)
v = torch.tensor(lvs).repeat_interleave(n, dim=0)[:, :1].repeat(1, d)
m.requires_grad_(True)
v.requires_grad_(True)
torch.manual_seed(1234)
z = model.reparametrize(m, v)
differentiable = bool(z.requires_grad and z.grad_fn is not None)
z2 = model.reparametrize(m, v)
varies = bool((z2 - z).abs().max() > 0)
z = z.detach().float()
"""
GROUPS, SAMPLES = 6, 3000


@pytest.fixture(scope="module")
def reparam(kernel):
    """{"convention": "logvar" | "variance" | None, "why": str} from sampling reparametrize."""
    rng = np.random.default_rng(20260)
    mus = rng.uniform(-2.0, 2.0, (GROUPS, 1)).astype(np.float32)
    lvs = rng.uniform(0.3, 2.0, (GROUPS, 1)).astype(np.float32)  # positive: a variance reading is defined too
    got = kernel.with_class(
        "VAE",
        REPARAM,
        inputs={"mus": mus, "lvs": lvs, "n": SAMPLES},
        outputs=["z", "differentiable", "varies"],
        grad=True,
    )
    z = array(got["z"])
    if z is None or z.ndim != 2 or z.shape[0] != GROUPS * SAMPLES:
        return {"convention": None, "why": "reparametrize(mu, logvar) must return a tensor of mu's shape"}
    if not np.all(np.isfinite(z)):
        return {"convention": None, "why": "reparametrize returned NaN or infinite values"}
    if not got["varies"]:
        return {"convention": None, "why": "reparametrize returned the same values twice: it must sample"}
    if not got["differentiable"]:
        return {"convention": None, "why": "reparametrize is not differentiable in mu and logvar"}
    groups = z.reshape(GROUPS, SAMPLES, -1)
    mean, var = groups.mean(axis=1), groups.var(axis=1, ddof=1)
    # With 3000 samples the sample mean is within 5 standard errors and the variance within 15 %.
    mean_ok = np.all(np.abs(mean - mus) <= 5 * np.sqrt(np.exp(lvs) / SAMPLES) + 1e-3)
    for convention, expected in (("logvar", np.exp(lvs)), ("variance", lvs)):
        if np.all(np.abs(var / expected - 1) < 0.15):
            if mean_ok:
                return {"convention": convention, "why": ""}
    if not mean_ok:
        return {"convention": None, "why": "samples of reparametrize(mu, logvar) are not centred on mu"}
    return {"convention": None, "why": "samples of reparametrize(mu, logvar) do not have variance exp(logvar)"}


def test_reparametrize(reparam):
    # Either reading of the second argument samples correctly; which one is marked by test_logvar.
    assert reparam["convention"] is not None, reparam["why"]


def test_logvar(reparam):
    assert reparam["convention"] is not None, reparam["why"]
    assert reparam["convention"] == "logvar", (
        "reparametrize treats its second argument as a variance: encode should return the log-variance "
        "(exp(logvar) is the variance)"
    )


FORWARD = """
out = model(torch.tensor(x))
triple = isinstance(out, (tuple, list)) and len(out) == 3
recon = mu = lv = mu_enc = None
if triple:
    recon, mu, lv = out
    mu_enc = model.encode(torch.tensor(x))[0]
"""


def test_forward(kernel, test_split, rng, credit):
    x = test_split[rng.choice(len(test_split), size=16, replace=False)]
    got = kernel.with_class("VAE", FORWARD, inputs={"x": x}, outputs=["triple", "recon", "mu", "lv", "mu_enc"])
    assert got["triple"], "forward(x) must return three tensors: (reconstruction, mu, logvar)"
    recon, mu, mu_enc = array(got["recon"]), array(got["mu"]), array(got["mu_enc"])
    assert recon is not None and recon.shape == x.shape, (
        f"forward(x)'s reconstruction must have the images' shape, {x.shape}"
    )
    credit.partial(0.5, "forward returns a reconstruction of the right shape, but see the other checks")
    assert np.all(np.isfinite(recon)) and recon.min() >= 0 and recon.max() <= 1, (
        "forward(x)'s reconstruction must be finite and in [0, 1]"
    )
    assert not np.allclose(recon, x, atol=1e-6), "forward(x) returns its input instead of a reconstruction"
    assert mu is not None and mu_enc is not None and mu.shape == mu_enc.shape and np.allclose(mu, mu_enc, atol=1e-4), (
        "forward(x)'s mu differs from encode(x)'s mu"
    )
