"""Images for the markers (most CW2 marks are judged by eye), drawn by the judge from the arrays the
student's models return: the 10 x 10 grid from the public fixed noise, a grid from noise drawn for this
run, and the VAE's reconstructions of a fixed batch of held-out digits. No rubric item depends on this
test: a model that cannot draw leaves its picture out and costs marks only where its own items say."""

import numpy as np

from conftest import ModelMissing, fixed_noise
from test_gan import generate
from test_vae_model import reconstruct
from workers.judge.api import StudentError


def test_artifacts(kernel, artifacts, judge_noise, held_out):
    problems = []

    def draw(what, make):
        try:
            make()
        except (AssertionError, ModelMissing, StudentError) as exc:
            problems.append(f"{what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    draw("fixed-noise samples", lambda: artifacts.grid(
        "gan-fixed-noise", np.clip(generate(kernel, fixed_noise()), -1, 1), nrow=10, value_range=(-1, 1),
        title="2.1c Generator samples from the fixed noise (10 x 10)"))
    draw("samples from the judge's noise", lambda: artifacts.grid(
        "gan-judge-noise", np.clip(generate(kernel, judge_noise[:100]), -1, 1), nrow=10, value_range=(-1, 1),
        title="2.1c Generator samples from noise drawn for this grading run (10 x 10)"))

    def reconstructions():
        batch = held_out[:50]
        recon = reconstruct(kernel, batch)
        rows = [block for i in range(0, 50, 10) for block in (batch[i:i + 10], recon[i:i + 10])]
        artifacts.grid("vae-reconstructions", np.concatenate(rows), nrow=10,
                       title="1.2b VAE: held-out digits (odd rows) and their reconstructions (even rows)")

    draw("VAE reconstructions", reconstructions)
    assert not problems, "; ".join(problems)
