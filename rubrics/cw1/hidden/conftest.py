"""Helpers for the CW1 hidden suite. Runs in the judge, never in the student's kernel.

Expected values come from torch's own layers, computed here with the weights and inputs sent to the
student; hidden labels stay here. The fixtures ``student``, ``credit``, ``submission`` and
``run_seed`` come from the judge's plugin (docs/hidden-tests.md).
"""

from __future__ import annotations

import ast
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

# --------------------------------------------------------------------------------------------------
# Random inputs


@pytest.fixture
def rng(run_seed: int, request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator for this test, fresh for every grading run (derived from run_seed)."""
    return np.random.default_rng([run_seed, zlib.crc32(request.node.name.encode())])


# --------------------------------------------------------------------------------------------------
# The hidden test set (sent to the student's kernel as images only; see test_accuracy.py)


IMAGES_FILE = "digits_test_images.npy"  # written by rubrics/cw1/make_hidden_set.py from a secret seed
LABELS_FILE = "digits_test_labels.npy"  # read here only: labels never leave the judge
NOISE = 0.02  # fresh noise every run, so no image is ever sent twice exactly as it was


def hidden_test_split(hidden_dir: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 8, 8) float32 in [0, 1] and their labels: the hidden digits, drawn by the course's
    generator from a seed nobody knows, in an order and with a little noise fresh for every run."""
    images = np.load(hidden_dir / IMAGES_FILE, allow_pickle=False)
    labels = np.load(hidden_dir / LABELS_FILE, allow_pickle=False)
    if images.ndim != 4 or images.shape[1:] != (1, 8, 8) or labels.shape != (len(images),):
        raise RuntimeError(f"the hidden set's files do not match: images {images.shape}, labels {labels.shape}")
    rng = np.random.default_rng([seed, 0xC1])
    order = rng.permutation(len(images))
    noisy = np.clip(images[order] + rng.normal(0.0, NOISE, images.shape), 0.0, 1.0)
    return noisy.astype(np.float32), labels[order].astype(np.int64)


@pytest.fixture(scope="session")
def test_split(hidden_dir: Path, run_seed: int) -> tuple[np.ndarray, np.ndarray]:
    return hidden_test_split(hidden_dir, run_seed)


# --------------------------------------------------------------------------------------------------
# Calling one of the student's layers


RTOL = 1e-4
ATOL = 1e-4


@dataclass
class LayerResult:
    shapes: dict  # parameter/buffer name -> shape list, or None when the layer has none
    y: np.ndarray | None = None  # output of the last forward pass
    grads: dict = field(default_factory=dict)  # "x" and parameter names -> gradient, or None
    state: dict = field(default_factory=dict)  # buffer name -> value after the forward passes


def _snippet(
    ctor: str,
    params: Sequence[str],
    buffers: Sequence[str],
    n_inputs: int,
    train: bool,
    backward: bool,
    state: Sequence[str],
) -> str:
    """The code run in the student's kernel. ``ctor`` and the names are the judge's own strings."""
    lines = ["import torch", f"layer = {ctor}", "layer.train()" if train else "layer.eval()", "shapes = {}"]
    for name in [*params, *buffers]:
        lines.append(
            f"shapes[{name!r}] = None if getattr(layer, {name!r}, None) is None "
            f"else list(getattr(layer, {name!r}).shape)"
        )
    checks = [f"shapes[{n!r}] == list(p_{n}.shape)" for n in params]
    checks += [f"shapes[{n!r}] == list(b_{n}.shape)" for n in buffers]
    lines.append(f"shapes_ok = bool({' and '.join(checks) or 'True'})")
    outs = ["y", "gx", *[f"g_{n}" for n in params], *[f"s_{n}" for n in state]]
    lines.append(" = ".join(outs) + " = None")
    lines.append("if shapes_ok:")
    body = ["with torch.no_grad():"]
    body += [f"    getattr(layer, {n!r}).copy_(torch.tensor(p_{n}))" for n in params]
    body += [f"    getattr(layer, {n!r}).copy_(torch.tensor(b_{n}))" for n in buffers]
    if not params and not buffers:
        body.append("    pass")
    body.append(f"for xi in [{', '.join(f'x{i}' for i in range(n_inputs))}]:")
    body.append(f"    xt = torch.tensor(xi).requires_grad_({backward})")
    body.append("    out = layer(xt)")
    if backward:
        body.append("(out * torch.tensor(g)).sum().backward()")
        body.append("gx = None if xt.grad is None else xt.grad.detach().cpu().double().numpy()")
        for n in params:
            body.append(f"_p = getattr(layer, {n!r})")
            body.append(f"g_{n} = None if _p.grad is None else _p.grad.detach().cpu().double().numpy()")
    body.append("y = out.detach().cpu().double().numpy()")
    for n in state:
        body.append(f"s_{n} = getattr(layer, {n!r}).detach().cpu().double().numpy()")
    lines += ["    " + b for b in body]
    return "\n".join(lines) + "\n"


class LayerCaller:
    def __init__(self, student):
        self.student = student

    def __call__(
        self,
        ctor: str,
        xs: Sequence[np.ndarray] | np.ndarray,
        params: dict | None = None,
        buffers: dict | None = None,
        train: bool = True,
        grad_out: np.ndarray | None = None,
        state: Iterable[str] = (),
    ) -> LayerResult:
        """Build ``ctor`` in the student's kernel, load ``params``/``buffers``, run the forward pass on
        each of ``xs`` in turn, backward from the last with upstream gradient ``grad_out``."""
        xs = [xs] if isinstance(xs, np.ndarray) else list(xs)
        params, buffers, state = dict(params or {}), dict(buffers or {}), list(state)
        code = _snippet(ctor, list(params), list(buffers), len(xs), train, grad_out is not None, state)
        inputs = {f"x{i}": np.ascontiguousarray(x, dtype=np.float32) for i, x in enumerate(xs)}
        inputs.update({f"p_{n}": np.ascontiguousarray(v, dtype=np.float32) for n, v in params.items()})
        inputs.update({f"b_{n}": np.ascontiguousarray(v, dtype=np.float32) for n, v in buffers.items()})
        outputs = ["shapes", "y"] + [f"s_{n}" for n in state]
        if grad_out is not None:
            inputs["g"] = np.ascontiguousarray(grad_out, dtype=np.float32)
            outputs += ["gx"] + [f"g_{n}" for n in params]
        got = self.student.run(code, inputs=inputs, outputs=outputs)
        shapes = got.get("shapes")
        if not isinstance(shapes, dict):
            shapes = {}
        for name, value in [*params.items(), *buffers.items()]:
            have = shapes.get(name)
            what = "buffer" if name in buffers else "parameter"
            assert have == list(value.shape), (
                f"{ctor}: {what} `{name}` has shape {_shape(have)}; torch's layer has {tuple(value.shape)}"
            )
        result = LayerResult(shapes=shapes, y=_array(got.get("y")))
        if grad_out is not None:
            result.grads = {"x": _array(got.get("gx"))}
            result.grads.update({n: _array(got.get(f"g_{n}")) for n in params})
        result.state = {n: _array(got.get(f"s_{n}")) for n in state}
        return result


def _shape(value) -> str:
    return "None (missing)" if value is None else str(tuple(value))


def _array(value) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None


@pytest.fixture
def call_layer(student) -> LayerCaller:
    return LayerCaller(student)


@pytest.fixture
def close():
    """``close(got, ref, what)``: assert that a student's array matches torch's."""
    return assert_close


def assert_close(got: np.ndarray | None, ref: np.ndarray, what: str) -> None:
    """Compare with a tolerance; the message names what differs, never the expected values."""
    assert got is not None, f"{what}: nothing came back (None)"
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)}, torch gives {tuple(ref.shape)}"
    assert np.all(np.isfinite(got)), f"{what}: contains NaN or infinity"
    err = np.abs(got - ref)
    ok = err <= ATOL + RTOL * np.abs(ref)
    assert ok.all(), (
        f"{what}: differs from torch's result ({(~ok).mean():.0%} of values wrong, largest error {err.max():.3g})"
    )


# --------------------------------------------------------------------------------------------------
# Asking the trained model for predictions


PREDICT = """
import torch
net = model
net.eval()
params = list(net.parameters())
dev = params[0].device if params else torch.device('cpu')
dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
with torch.no_grad():
    logits = net(torch.tensor(images).to(device=dev, dtype=dtype))
logits = logits.detach().cpu().double().numpy()
"""


@pytest.fixture
def predict(student):
    """``predict(images)``: the logits the student's global ``model`` gives, checked for shape."""

    def run(images: np.ndarray) -> np.ndarray:
        got = student.run(
            PREDICT, inputs={"images": np.ascontiguousarray(images, dtype=np.float32)}, outputs=["logits"]
        )
        logits = _array(got.get("logits"))
        n = len(images)
        assert logits is not None, "`model` returned no tensor of logits"
        # The message names no shape the student's code chose: a shape can carry hidden pixel values.
        assert logits.shape == (n, 10), f"`model` returned logits of another shape than ({n}, 10) for {n} images"
        assert np.all(np.isfinite(logits)), "`model` returned NaN or infinite logits"
        return logits

    return run


# --------------------------------------------------------------------------------------------------
# Reading the submitted source (never executed here)


LAYER_CLASSES = ("Conv2d", "MaxPool2d", "BatchNorm2d", "Linear")

# torch attributes that are the library's own convolution, pooling, batch-norm and linear layers.
LIBRARY_LAYERS = frozenset(
    {
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "LazyConv2d",
        "ConvTranspose2d",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose2d",
        "convolution",
        "_convolution",
        "conv2d_input",
        "conv2d_weight",
        "mkldnn_convolution",
        "cudnn_convolution",
        "slow_conv2d",
        "thnn_conv2d",
        "MaxPool2d",
        "AdaptiveMaxPool2d",
        "max_pool2d",
        "max_pool2d_with_indices",
        "adaptive_max_pool2d",
        "mkldnn_max_pool2d",
        "quantized_max_pool2d",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "LazyBatchNorm2d",
        "SyncBatchNorm",
        "batch_norm",
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_batch_norm_impl_index",
        "cudnn_batch_norm",
        "miopen_batch_norm",
        "batch_norm_elemt",
        "functional_batch_norm",
        "Linear",
        "LazyLinear",
        "Bilinear",
        "linear",
        "_linear",
        "bilinear",
    }
)


@dataclass
class Hit:
    cell: int  # index in submission.cells
    line: int
    text: str
    via: str | None = None  # the notebook helper it was found in, if not the class itself


class SourceIndex:
    """The submission's top-level definitions and torch import aliases, from its code cells."""

    def __init__(self, cells: Sequence[str]):
        self.defs: dict[str, tuple[int, ast.AST]] = {}  # last top-level def/class of each name
        self.roots: set[str] = {"torch"}  # names bound to torch modules
        self.imported_layers: dict[str, str] = {}  # bare name -> the torch object it is
        self.unparsed: list[int] = []
        for index, src in enumerate(cells):
            tree = _parse(src)
            if tree is None:
                self.unparsed.append(index)
                continue
            for node in ast.walk(tree):
                self._imports(node)
            for node in tree.body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.defs[node.name] = (index, node)

    def _imports(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "torch" or alias.name.startswith("torch."):
                    self.roots.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (node.module == "torch" or node.module.startswith("torch."))
        ):
            for alias in node.names:
                bound = alias.asname or alias.name
                if alias.name in LIBRARY_LAYERS:
                    self.imported_layers[bound] = f"{node.module}.{alias.name}"
                else:
                    self.roots.add(bound)  # a module (nn, functional) or harmless: treat as torch

    def library_uses(self, name: str, skip: Iterable[str] = ()) -> list[Hit]:
        """Uses of torch's own layers in the definition ``name`` and the notebook helpers it refers to
        (other than those in ``skip``)."""
        hits: list[Hit] = []
        seen = {name, *skip}
        todo = [name]
        while todo:
            current = todo.pop(0)
            if current not in self.defs:
                continue
            cell, node = self.defs[current]
            via = None if current == name else current
            hits += [Hit(cell, line, text, via) for line, text in self._scan(node)]
            for ref in sorted(self._names(node)):
                if ref in self.defs and ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return hits

    def references(self, name: str, skip: Iterable[str] = ()) -> set[str]:
        """Bare names used by ``name`` and by the notebook definitions it refers to (not entering ``skip``)."""
        seen, found, todo = {name}, set(), [name]
        while todo:
            current = todo.pop(0)
            if current not in self.defs:
                continue
            names = self._names(self.defs[current][1])
            found |= names
            for ref in names:
                if ref in self.defs and ref not in seen and ref not in skip:
                    seen.add(ref)
                    todo.append(ref)
        return found

    @staticmethod
    def _names(node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    def _scan(self, node: ast.AST) -> list[tuple[int, str]]:
        inner = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
        found = []
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and id(n) not in inner:
                chain = _chain(n)
                if chain and chain[0] in self.roots and any(part in LIBRARY_LAYERS for part in chain[1:]):
                    found.append((n.lineno, ".".join(chain)))
            elif isinstance(n, ast.Name) and n.id in self.imported_layers and n.id not in self.defs:
                found.append((n.lineno, f"{n.id} (= {self.imported_layers[n.id]})"))
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id == "getattr"
                and len(n.args) >= 2
                and isinstance(n.args[1], ast.Constant)
                and n.args[1].value in LIBRARY_LAYERS
            ):
                found.append((n.lineno, f"getattr(..., {n.args[1].value!r})"))
        return sorted(set(found))


def _chain(node: ast.Attribute) -> list[str] | None:
    parts: list[str] = []
    cur: ast.AST = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return None
    parts.append(cur.id)
    return parts[::-1]


def _parse(src: str) -> ast.Module | None:
    """Parse a code cell, turning IPython syntax (``!pip``, ``%magic``) into Python first."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        src = TransformerManager().transform_cell(src)
    except Exception:
        src = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in src.splitlines())
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError):
        return None


@pytest.fixture(scope="session")
def source(submission) -> SourceIndex:
    return SourceIndex(list(submission.cells))
