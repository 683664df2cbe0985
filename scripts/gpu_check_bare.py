"""The part of scripts/gpu_check.sh that needs only Python and torch (any recent version: a bare GPU
machine's own, no project venv, no Docker, no sandbox).

    python3 scripts/gpu_check_bare.py [--device N] [--cpu-dry-run] [--solution rubrics/cw2/solution.zip]

Checks, one line each (PASS / FAIL / INFO):
  - the device count, and the torch / CUDA / torchvision versions (and whether torchvision's C++ ops load);
  - CPU against GPU on CW2's reference: its three model files loaded with plain torch (weights only)
    into the classes its own notebook defines (the notebook's definition statements, kept as the
    grader's `definitions` mode keeps them, run here), then the forward passes the hidden suite makes
    (VAE encode and decode, the generator on the course's fixed noise, the discriminator on its
    images) on both devices: strictly (TF32 off) and as a kernel runs by default (TF32 as torch sets it);
  - a file saved on cuda (tensors tagged cuda:0) loads on the CPU, weights only;
  - the device is clean afterwards (no memory this process allocated is left).
Input shapes are read from the model files (the first layer's channels or features) and the
notebook, never hard-coded: the sample's model sizes may change.

--cpu-dry-run runs the same logic with the CPU standing in for the GPU (tests run it; no GPU here),
and a file tagged cuda:0 is written by relabelling CPU storages as torch.save writes them.
Exit status: 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
MODEL_CLASSES = {"VAE_model.pth": "VAE", "GAN_G_model.pth": "Generator", "GAN_D_model.pth": "Discriminator"}
SPATIAL = (28, 32, 64, 8, 16, 24, 48, 96, 128)  # image sizes tried for the VAE, most likely first
STRICT_TOL = 1e-4  # relative to the output's scale, TF32 off: the same arithmetic up to reassociation
DEFAULT_TOL = 1e-2  # with TF32 as torch sets it for a student's kernel: the hidden suite's bands are wider
BATCH = 16

failed = 0


def say(status: str, name: str, detail: str = "") -> None:
    global failed
    failed += status == "FAIL"
    print(f"{status:5} {name}" + (f": {detail}" if detail else ""), flush=True)


# -- the notebook's classes ---------------------------------------------------------------------


def load_definitions_module() -> Any:
    """workers/runner/definitions.py by file (pure: ast and re only), without importing the project."""
    path = REPO / "workers" / "runner" / "definitions.py"
    spec = importlib.util.spec_from_file_location("grader_definitions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def notebook_namespace(notebook: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Run the statements `definitions` mode keeps (imports, classes, functions, constants), each on
    its own: one that fails here (a package this machine lacks, data it cannot load) fails alone."""
    prepare_cell = load_definitions_module().prepare_cell
    namespace: dict[str, Any] = {"__name__": "__cw2_notebook__"}
    failures = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for statement in prepare_cell(source).definitions:  # each a runnable source
            try:
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(compile(statement, "<cw2 notebook>", "exec"), namespace)
            except Exception as e:
                failures.append(f"{statement.strip().splitlines()[0][:60]!r}: {type(e).__name__}: {e}"[:200])
    return namespace, failures


def load_state(data: bytes) -> dict[str, torch.Tensor]:
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        nested = [
            v for v in state.values() if isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values())
        ]
        state = nested[0] if len(nested) == 1 else state  # a checkpoint {"model": state_dict, ...}
    return state


# -- inputs, from the models themselves ---------------------------------------------------------


def first_layer(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            return module
    raise ValueError(f"{type(model).__name__} has no convolution or linear layer to read its input from")


def image_candidates(model: nn.Module, gen: torch.Generator) -> list[torch.Tensor]:
    layer = first_layer(model)
    if isinstance(layer, nn.Linear):
        n = layer.in_features
        shapes = [(BATCH, c, s, s) for c in (1, 3) for s in [round(math.sqrt(n / c))] if c * s * s == n]
        shapes.append((BATCH, n))
    else:
        shapes = [(BATCH, layer.in_channels, s, s) for s in SPATIAL]
    return [torch.rand(shape, generator=gen) for shape in shapes]


def noise_candidates(model: nn.Module, namespace: dict[str, Any], gen: torch.Generator) -> list[torch.Tensor]:
    found = [v for k, v in namespace.items() if "fixed_noise" in k.lower() and isinstance(v, torch.Tensor)]
    layer = first_layer(model)
    nz = layer.in_channels if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) else layer.in_features
    shapes = [(100, nz, 1, 1), (100, nz)]  # the course's fixed latent batch is 100 x nz x 1 x 1
    return [*found, *(torch.randn(s, generator=gen) for s in shapes)]


def tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors(v)]
    return []


def vae_passes(vae: nn.Module, gen: torch.Generator) -> tuple[torch.Tensor, Any]:
    """The input the VAE takes (the first whose decoded mean has the input's size) and the passes to compare."""
    for x in image_candidates(vae, gen):
        try:
            with torch.no_grad():
                mu = tensors(vae.encode(x))[0]
                recon = tensors(vae.decode(mu))[0]
        except Exception:
            continue
        if recon.numel() == x.numel():

            def passes(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
                encoded = tensors(model.encode(x))
                return [*encoded, *tensors(model.decode(encoded[0]))]

            return x, passes
    raise ValueError("no input shape found that the VAE encodes and decodes back to its own size")


def first_working(model: nn.Module, candidates: list[torch.Tensor], what: str) -> tuple[torch.Tensor, torch.Tensor]:
    for x in candidates:
        try:
            with torch.no_grad():
                return x, model(x)
        except Exception:
            continue
    raise ValueError(f"no input shape found that the {what} takes")


# -- the checks ---------------------------------------------------------------------------------


def agree(name: str, cpu: list[torch.Tensor], other: list[torch.Tensor], tol: float) -> tuple[bool, str]:
    worst = 0.0
    for a, b in zip(cpu, other, strict=True):
        b = b.detach().float().cpu()
        scale = max(1.0, float(a.detach().abs().max()))
        worst = max(worst, float((a.detach().float() - b).abs().max()) / scale)
    shapes = ", ".join("x".join(map(str, t.shape)) for t in cpu)
    return worst <= tol, f"{name} [{shapes}] max difference {worst:.2e} of scale (tolerance {tol:g})"


@contextlib.contextmanager
def tf32(allowed: bool):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def check_agreement(solution: Path, device: torch.device) -> None:
    started = time.monotonic()
    with zipfile.ZipFile(solution) as zf:
        names = zf.namelist()
        notebook_name = next((n for n in names if n.endswith(".ipynb")), None)
        if notebook_name is None:
            say("FAIL", "CPU against GPU on CW2's reference", f"no notebook in {solution}")
            return
        namespace, failures = notebook_namespace(json.loads(zf.read(notebook_name)))
        files = {n: zf.read(n) for n in MODEL_CLASSES if n in names}
    if failures:  # plots of training histories that never ran here, packages this machine lacks ...
        say("INFO", f"{len(failures)} notebook statement(s) failed here, each alone", f"first: {failures[0]}")
    models: dict[str, nn.Module] = {}
    for file, cls in MODEL_CLASSES.items():
        if file not in files or cls not in namespace:
            say("FAIL", f"load {file}", f"{'no file' if file not in files else f'no class {cls} in the notebook'}")
            continue
        state = load_state(files[file])
        model = namespace[cls]()
        model.load_state_dict(state)
        models[file] = model.float().eval()
        count = sum(t.numel() for t in state.values())
        say("INFO", f"{file}", f"{cls}, {count:,} numbers, {len(files[file]) / 2**20:.1f} MiB")
    gen = torch.Generator().manual_seed(0)
    passes: list[tuple[str, nn.Module, torch.Tensor, Any]] = []
    try:
        if "VAE_model.pth" in models:
            x, vae_fn = vae_passes(models["VAE_model.pth"], gen)
            passes.append(("VAE encode + decode", models["VAE_model.pth"], x, vae_fn))
        if "GAN_G_model.pth" in models:
            g = models["GAN_G_model.pth"]
            z, images = first_working(g, noise_candidates(g, namespace, gen), "generator")
            passes.append(("generator on the fixed noise", g, z, lambda m, v: tensors(m(v))))
            if "GAN_D_model.pth" in models:
                passes.append(
                    ("discriminator on its images", models["GAN_D_model.pth"], images, lambda m, v: tensors(m(v)))
                )
    except ValueError as e:
        say("FAIL", "CPU against GPU on CW2's reference", str(e))
        return
    for label, model, x, fn in passes:
        with torch.no_grad():
            cpu = [t.clone() for t in fn(model, x)]
            moved = model.to(device)
            for allowed, tol, how in ((False, STRICT_TOL, "TF32 off"), (True, DEFAULT_TOL, "torch's defaults")):
                with tf32(allowed if device.type == "cuda" else False):
                    other = fn(moved, x.to(device))
                ok, detail = agree(label, cpu, other, tol)
                say("PASS" if ok else "FAIL", f"CPU against {device} ({how})", detail)
            model.to("cpu")
    say("INFO", "agreement checks took", f"{time.monotonic() - started:.1f}s")


@contextlib.contextmanager
def tagged_as_cuda():
    """torch.save writes each storage's location; relabel CPU storages cuda:0 (dry runs: no GPU)."""
    import torch.serialization as ser

    original = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"  # type: ignore[assignment]
    try:
        yield
    finally:
        ser.location_tag = original


def check_cuda_file(device: torch.device) -> None:
    gen = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved_on_cuda.pth")
        if device.type == "cuda":
            torch.save(model.to(device).state_dict(), path)
            model.to("cpu")
        else:
            with tagged_as_cuda():
                torch.save(model.state_dict(), path)
        with zipfile.ZipFile(path) as zf:
            tagged = b"cuda:0" in zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    same = all(torch.equal(loaded[k].cpu(), v) and loaded[k].device.type == "cpu" for k, v in expected.items())
    ok = tagged and same and set(loaded) == set(expected)
    detail = f"tensors tagged cuda:0 in the file: {tagged}; all loaded on the CPU, unchanged: {same}"
    say("PASS" if ok else "FAIL", "a file saved on cuda loads on the CPU (weights only)", detail)


def check_versions(device: torch.device, dry: bool) -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    info = f"torch {torch.__version__} (CUDA {torch.version.cuda}), Python {sys.version.split()[0]}"
    if dry:
        say("INFO", "device count", f"{count} (--cpu-dry-run: the CPU stands in for the GPU); {info}")
    else:
        say("PASS" if count >= 1 else "FAIL", "device count", f"{count}; {info}")
        if count:
            say("INFO", "device", f"{device}: {torch.cuda.get_device_name(device)}")
    try:
        import torchvision
        from torchvision import extension

        ops = bool(extension._has_ops())
        say("INFO", "torchvision", f"{torchvision.__version__}, C++ ops loaded: {ops}")
    except Exception as e:
        say("INFO", "torchvision", f"not importable here ({type(e).__name__}: {str(e)[:120]})")


def check_clean(device: torch.device) -> None:
    if device.type != "cuda":
        say("INFO", "device memory after the checks", "not run (--cpu-dry-run: no CUDA allocator)")
        return
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    allocated, reserved = torch.cuda.memory_allocated(device), torch.cuda.memory_reserved(device)
    ok = allocated == 0 and reserved == 0
    say(
        "PASS" if ok else "FAIL",
        "this process left no memory on the device",
        f"{allocated} B allocated, {reserved} B reserved",
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="0", help="the CUDA device index (as this process sees it)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="the CPU stands in for the GPU")
    parser.add_argument("--solution", type=Path, default=REPO / "rubrics" / "cw2" / "solution.zip")
    args = parser.parse_args(argv)
    if args.cpu_dry_run:
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            say("FAIL", "device count", f"torch {torch.__version__} sees no CUDA device (CUDA {torch.version.cuda})")
            return 1
        device = torch.device(f"cuda:{int(args.device)}" if args.device.isdigit() else "cuda:0")
    check_versions(device, args.cpu_dry_run)
    check_agreement(args.solution, device)
    check_cuda_file(device)
    check_clean(device)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
