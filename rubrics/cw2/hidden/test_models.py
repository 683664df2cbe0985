"""The penalties decided on the model files alone: they load, and the GAN is under the parameter limit.

Both come from the ``models`` fixture, which reads each file in a sandbox of its own where no student
code runs (``torch.load(weights_only=True)``; TorchScript is read as an archive, never loaded): what
the student's own process says about its models is never trusted here. Its count is the one the
pre-check shows the student: every stored tensor (parameters, buffers such as BatchNorm's running
statistics, constants), of any dtype, as max(elements, bytes / 4).
"""

from conftest import D_FILE, G_FILE, MODEL_FILES

# The real course's limit for a DCGAN on 3 x 32 x 32 images. The reference, a standard DCGAN (64 base
# channels), stores about 4.1 million (parameters and BatchNorm's running statistics); the same
# DCGAN with about 3.5 times the base channels is at the limit.
PARAMETER_LIMIT = 25_000_000


def test_models_load(models):
    problems = []
    for name in MODEL_FILES:
        info = models.inspect(name)
        if not info.present:
            problems.append(f"{name} is missing")
        elif not info.loads:
            problems.append(f"{name} does not load ({info.error or 'unknown reason'})")
    assert not problems, "; ".join(problems)


def test_gan_parameter_limit(models):
    g, d = models.inspect(G_FILE), models.inspect(D_FILE)
    if not (g.loads and d.loads) or g.parameters is None or d.parameters is None:
        return  # cannot be counted: the models-do-not-load penalty applies instead
    total = g.parameters + d.parameters
    assert total <= PARAMETER_LIMIT, (
        f"the generator ({g.parameters:,}) and discriminator ({d.parameters:,}) have {total:,} parameters "
        f"together, over the limit of {PARAMETER_LIMIT:,}"
    )
