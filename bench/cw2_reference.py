"""CW2 reference: `grader grade` of the reference submission against a plain Python process doing the
work that cannot be avoided: load its three models and run the hidden suite's forward passes.

    .venv/bin/python bench/cw2_reference.py [--runs 3]

grader: `grader grade rubrics/cw2/solution.zip --coursework cw2 --json`, sandbox on (the settings'
backend), end to end (CLI start, intake, pre-check of nothing, judge, sandbox, kernel, the notebook's
definitions, the hidden suite, marks).
Plain: one `python` process (this interpreter, BLAS/OpenMP pinned to one thread as in the sandbox)
that imports torch and torchvision, runs the notebook's definitions (the same statements grader's
``definitions`` mode keeps: workers.runner.definitions; they make the 28 x 28 and 3 x 32 x 32 images),
loads VAE_model.pth, GAN_G_model.pth and GAN_D_model.pth with ``torch.load(weights_only=True)`` into
the notebook's classes, and runs the forward passes the hidden suite asks for, at its batch sizes (a
fresh VAE's encode and forward on 16 images, the loaded VAE's reconstructions of 32 and 100 images,
the generator on the fixed 100 x 100 x 1 x 1 noise and on 100 judge noise vectors, the discriminator
on 64 images). Runs alternate; medians are compared. Target (issues 13 and 14): at most 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOLUTION = REPO / "rubrics" / "cw2" / "solution.zip"
PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TARGET = 2.0

PLAIN = r"""
import sys, time, zipfile, io
start = time.perf_counter()
import numpy as np
import nbformat
import torch
sys.path.insert(0, sys.argv[2])
from workers.runner.definitions import prepare_cell

archive = zipfile.ZipFile(sys.argv[1])
nb = nbformat.reads(archive.read("cw2.ipynb").decode(), 4)
ns = {"__name__": "__main__"}
for cell in nb.cells:
    if cell.cell_type == "code":
        for source in prepare_cell(cell.source).definitions:
            try:  # as the runner does: a definition that fails is logged there, and the rest still run
                exec(compile(source, "<cell>", "exec"), ns)
            except Exception:
                pass
defined = time.perf_counter()

def load(name, cls):
    model = ns[cls]()
    model.load_state_dict(torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True))
    return model.float().eval()

vae, gen, disc = load("VAE_model.pth", "VAE"), load("GAN_G_model.pth", "Generator"), load("GAN_D_model.pth", "Discriminator")
loaded = time.perf_counter()
rng = np.random.default_rng(0)
x = ns["images"][1500:][torch.tensor(rng.permutation(297)[:100])]  # held-out digits, 1 x 28 x 28
with torch.no_grad():
    torch.manual_seed(0)
    fresh = ns["VAE"]().float().eval()
    fresh.encode(x[:16]); fresh(x[:16])                              # test_encode, test_forward
    vae.decode(vae.encode(x[:32])[0]); vae.decode(vae.encode(x)[0])  # test_vae_model, test_reconstruction
    z = torch.tensor(rng.standard_normal((100, 100, 1, 1)).astype(np.float32))
    fixed = torch.tensor(np.random.default_rng(2026).standard_normal((100, 100, 1, 1)).astype(np.float32))
    gen(fixed); gen(z)                                          # test_generator, test_generated_images
    disc(ns["gan_images"][:64])                                 # test_discriminator (3 x 32 x 32)
done = time.perf_counter()
print(f"{defined - start:.2f} {loaded - defined:.2f} {done - loaded:.2f}")
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{Path(cmd[0]).name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def grade() -> tuple[float, dict]:
    wall, out = timed([str(BIN / "grader"), "grade", str(SOLUTION), "--coursework", "cw2", "--json"])
    report = json.loads(out)
    if report["status"] != "graded":
        sys.exit(f"the CW2 reference did not grade: {report['error']}")
    return wall, report


def plain() -> tuple[float, str]:
    return timed([sys.executable, "-c", PLAIN, str(SOLUTION), str(REPO)], env=PINNED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    graded, bare = [], []
    for run in range(args.runs):
        order = (grade, plain) if run % 2 == 0 else (plain, grade)
        for step in order:
            wall, detail = step()
            if step is grade:
                graded.append(wall)
                print(
                    f"run {run + 1}: grader grade {wall:6.2f} s (score {detail['score']:g}/{detail['auto_max_score']:g})"
                )
            else:
                bare.append(wall)
                imports, load, forward = detail.strip().splitlines()[-1].split()
                print(
                    f"run {run + 1}: plain        {wall:6.2f} s (imports + definitions {imports} s, "
                    f"loading {load} s, forward passes {forward} s)",
                    flush=True,
                )
    g, p = statistics.median(graded), statistics.median(bare)
    print(f"\nCW2 reference, median of {args.runs}: grader grade {g:.2f} s, plain Python {p:.2f} s")
    print(f"  ratio {g / p:.2f}x (target at most {TARGET:g}x): {'met' if g / p <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
