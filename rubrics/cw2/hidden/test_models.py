"""The penalties decided on the model files alone: they load, and the GAN is under the parameter limit.

Both come from the ``models`` fixture, which reads each file in a sandbox of its own where no student
code runs (``torch.load(weights_only=True)``; TorchScript is read as an archive, never loaded): what
the student's own process says about its models is never trusted here. Its count is the one the
pre-check shows the student: every stored tensor (parameters, buffers such as BatchNorm's running
statistics, constants), of any dtype, as max(elements, bytes / 4).
"""

from conftest import D_FILE, G_FILE, MODEL_FILES

# The real course allows 25 million parameters for a DCGAN on 32 x 32 CIFAR-10, about four times a
# standard DCGAN. Scaled to the sample's 8 x 8 digits: the reference stores 83 656 (83 330 parameters
# and BatchNorm's running statistics; 32 base channels),
# the same DCGAN with 64 base channels about 298 000; a generator with 128 channels alone is over.
PARAMETER_LIMIT = 400_000


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
