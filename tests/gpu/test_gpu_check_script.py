"""scripts/gpu_check.sh without a GPU: its bare part in --cpu-dry-run (the CPU stands in for the GPU,
nvidia-smi is the fake one), as on a bare machine with no project venv. What it does on a real device
is for the lead to run where one is lent (docs/gpu.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from gpu_kit import GPU0

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the .venv's: a CPU torch, as a bare machine's own Python would have some torch


def gpu_check(fake_smi, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--cpu-dry-run", *args],
        cwd=REPO,
        env={**os.environ, "GPU_CHECK_PYTHON": PYTHON, "GRADER": "/nonexistent/grader", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory) -> subprocess.CompletedProcess:
    """One dry run on a 'bare machine' (no project venv), shared: the CW2 notebook's imports take seconds."""
    from gpu_kit import FakeSmi

    folder = tmp_path_factory.mktemp("smi")
    FakeSmi(folder)
    return subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--cpu-dry-run"],
        cwd=REPO,
        env={
            **os.environ,
            "PATH": f"{folder}:{os.environ['PATH']}",
            "GPU_CHECK_PYTHON": PYTHON,
            "GRADER": "/nonexistent/grader",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_bare_checks_run_and_the_project_checks_say_why_not(bare_run):
    out = bare_run.stdout
    assert bare_run.returncode == 0, out + bare_run.stderr
    assert f"GPU 0 = {GPU0}" in out
    assert out.count("PASS  CPU against cpu") == 6, out  # three passes, strict and with torch's defaults
    for agreed in ("VAE encode + decode", "generator on the fixed noise", "discriminator on its images"):
        assert agreed in out
    assert "PASS  a file saved on cuda loads on the CPU (weights only)" in out
    assert "PASS  no process holds the device after the bare checks" in out
    not_run = [line for line in out.splitlines() if line.startswith("NOT RUN")]
    assert len(not_run) == 5 and all("(no project venv: /nonexistent/grader does not run" in n for n in not_run)
    assert any("one job per GPU" in n for n in not_run) and any("CW2's reference gets full marks" in n for n in not_run)
    assert out.rstrip().endswith("gpu_check: 8 passed, 0 failed, 5 not run")


def test_a_process_left_on_the_device_fails_the_check(fake_smi, tmp_path):
    """The device check reads nvidia-smi; the named Python does not exist, which fails alone."""
    fake_smi.set_apps([(GPU0, 4242, 1536)])
    done = gpu_check(fake_smi, GPU_CHECK_PYTHON="/nonexistent/python")
    assert done.returncode == 1, done.stdout
    assert f"FAIL  no process holds the device after the bare checks {GPU0}, 4242, 1536" in done.stdout
    assert "FAIL  a Python here whose torch sees the GPU" in done.stdout
    assert done.stdout.rstrip().endswith("gpu_check: 0 passed, 2 failed, 5 not run")


def test_no_gpu_and_no_dry_run_is_a_clear_exit_2():
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no nvidia-smi on it here
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "no NVIDIA GPU here" in done.stderr


def test_shapes_come_from_the_files_a_real_size_dcgan_and_a_28x28_vae(tmp_path):
    """The bare check reads its inputs from the models (first layer) and the notebook (fixed noise):
    a CW2 at the course's shapes (1 x 28 x 28 VAE, 3 x 32 x 32 DCGAN, 100-d noise) needs no change."""
    cells = [
        "import torch\nimport torch.nn as nn\nimport numpy as np",
        "NZ = 100\nfixed_noise = torch.tensor(np.random.default_rng(2026).standard_normal((100, NZ, 1, 1)), "
        "dtype=torch.float32)",
        "class VAE(nn.Module):\n"
        "    def __init__(self, z=20):\n"
        "        super().__init__()\n"
        "        self.enc = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(),"
        " nn.Flatten())\n"
        "        self.mu, self.lv = nn.Linear(16 * 7 * 7, z), nn.Linear(16 * 7 * 7, z)\n"
        "        self.dec = nn.Sequential(nn.Linear(z, 16 * 7 * 7), nn.Unflatten(1, (16, 7, 7)),"
        " nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Sigmoid())\n"
        "    def encode(self, x):\n"
        "        h = self.enc(x)\n"
        "        return self.mu(h), self.lv(h)\n"
        "    def decode(self, z):\n"
        "        return self.dec(z)\n"
        "    def forward(self, x):\n"
        "        mu, lv = self.encode(x)\n"
        "        return self.decode(mu), mu, lv",
        "class Generator(nn.Module):\n"
        "    def __init__(self, nz=NZ, ngf=16):\n"
        "        super().__init__()\n"
        "        self.main = nn.Sequential(nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4),"
        " nn.ReLU(True), nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.ReLU(True),"
        " nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.ReLU(True),"
        " nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())\n"
        "    def forward(self, z):\n"
        "        return self.main(z)\n"
        "class Discriminator(nn.Module):\n"
        "    def __init__(self, ndf=16):\n"
        "        super().__init__()\n"
        "        self.main = nn.Sequential(nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(ndf, ndf * 2, 4, 2, 1),"
        " nn.LeakyReLU(0.2), nn.Conv2d(ndf * 2, 1, 8, 1, 0), nn.Flatten())\n"
        "    def forward(self, x):\n"
        "        return self.main(x)",
        "vae, G, D = VAE(), Generator(), Discriminator()\n"
        "for epoch in range(3):\n    pass\n"
        "torch.save(vae.state_dict(), 'VAE_model.pth')",
    ]
    notebook = {
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    import torch

    namespace: dict = {}
    for cell in cells[:4]:
        exec(cell, namespace)
    torch.manual_seed(0)
    solution = tmp_path / "solution.zip"
    with zipfile.ZipFile(solution, "w") as zf:
        zf.writestr("cw2.ipynb", json.dumps(notebook))
        for name, cls in (
            ("VAE_model.pth", "VAE"),
            ("GAN_G_model.pth", "Generator"),
            ("GAN_D_model.pth", "Discriminator"),
        ):
            with zf.open(name, "w") as fh:
                torch.save(namespace[cls]().state_dict(), fh)
    done = subprocess.run(
        [PYTHON, "scripts/gpu_check_bare.py", "--cpu-dry-run", "--solution", str(solution)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VAE encode + decode [16x20, 16x20, 16x1x28x28]" in done.stdout
    assert "generator on the fixed noise [100x3x32x32]" in done.stdout
    assert "discriminator on its images [100x1]" in done.stdout
