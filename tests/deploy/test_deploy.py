"""The deployment files: docker-compose.yml validates and wires what it should, and Dockerfile.gpu
builds (on a locally imported stand-in for its CUDA PyTorch base, which cannot be pulled here) into
an image whose service and course runtime import. Real Docker engine, real docker-compose."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
IMAGE = "grader-worker-gpu:ci"
ENV = {
    **os.environ,
    "POSTGRES_PASSWORD": "ci-password",
    "GRADER_SECRET_KEY": "ci-secret",
    "REDIS_PASSWORD": "ci-redis-password",
}


@pytest.fixture(scope="module")
def compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: bash scripts/ensure_docker.sh installs it", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def docker_engine() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker engine answers: bash scripts/ensure_docker.sh", pytrace=False)


def test_compose_file_validates_and_wires_the_services(compose):
    done = subprocess.run(
        [compose, "-f", "docker-compose.yml", "config"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {"postgres", "redis", "migrate", "api", "worker-cpu", "worker-gpu-0"} <= set(services)
    gpu = services["worker-gpu-0"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}
    ]
    assert gpu["command"][:3] == ["worker", "--queues", "gpu"] and "--gpu-device" in gpu["command"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/api/v1/health" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("api", "worker-cpu", "worker-gpu-0"):  # one blob store, shared
        assert any(str(v).startswith("blobs:/var/lib/grader/blobs") for v in services[name]["volumes"])
        assert services[name]["environment"]["GRADER_BROKER_URL"] == "redis://:ci-redis-password@redis:6379/0"
    assert "ci-password@postgres" in services["worker-cpu"]["environment"]["GRADER_DATABASE_URL"]
    redis = services["redis"]
    assert redis["command"][-2:] == ["--requirepass", "ci-redis-password"]  # no broker without the password
    assert redis["environment"]["REDISCLI_AUTH"] == "ci-redis-password"  # the healthcheck signs in too


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "GRADER_SECRET_KEY", "REDIS_PASSWORD"])
def test_compose_refuses_to_run_without_its_secrets(compose, missing):
    env = {k: v for k, v in ENV.items() if k != missing}
    done = subprocess.run(
        [compose, "-f", "docker-compose.yml", "config", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and f"set {missing}" in done.stderr + done.stdout


@pytest.mark.slow  # builds an image with the project's wheels installed (minutes on a cold Docker cache)
def test_the_gpu_worker_image_builds_and_runs(docker_engine):
    done = subprocess.run(
        ["bash", "scripts/build_gpu_image.sh", "--ci", IMAGE], cwd=REPO, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def run(*args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess:
        cmd = [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            *(["--entrypoint", entrypoint] if entrypoint else []),
            IMAGE,
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    who = run("-u", entrypoint="id")
    assert who.stdout.strip() == "10001", "the image runs as a non-root user by default"
    runtime = run(
        "-c", "import torch, numpy, ipykernel, nbclient; import grader", entrypoint="/opt/grader/runtime/bin/python"
    )
    assert runtime.returncode != 0 and "No module named 'grader'" in runtime.stderr  # the runtime holds no grader
    ok = run(
        "-c",
        "import torch, numpy, ipykernel, nbclient; print(torch.__version__)",
        entrypoint="/opt/grader/runtime/bin/python",
    )
    assert ok.returncode == 0 and ok.stdout.startswith("2.13.0"), ok.stderr
    # torchvision is the base's, seen by both venvs, never a wheel of their own (build/gpu-image/wheels
    # has none). The stand-in's is PyPI's CUDA build beside a CPU torch: it imports without its C++ ops.
    assert not list((REPO / "build" / "gpu-image" / "wheels").glob("torchvision-*"))
    where = {}
    for venv in ("runtime", "venv"):
        vision = run(
            "-c",
            "import torchvision; from torchvision import extension, transforms, utils; "
            "print(torchvision.__version__, torchvision.__file__, extension._has_ops())",
            entrypoint=f"/opt/grader/{venv}/bin/python",
        )
        assert vision.returncode == 0, vision.stderr
        version, where[venv], ops = vision.stdout.split()
        assert version.startswith("0.28.0") and ops == "False", vision.stdout  # PyPI's 0.28.0+cu130
        assert not where[venv].startswith("/opt/grader/"), f"{venv} has a torchvision of its own: {where[venv]}"
    assert where["runtime"] == where["venv"]
    pinned = run("worker", "--gpu-device", "0")
    assert pinned.returncode == 1 and "no NVIDIA GPU here" in pinned.stderr  # no GPU in CI: refused, clearly
    assert run("rubric", "--help").returncode == 0
