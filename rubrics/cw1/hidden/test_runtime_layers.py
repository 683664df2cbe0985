"""The layers are implemented from scratch, seen at run time: evidence for the marker, not a penalty.

test_source.py reads the submitted source, so a spelling it does not know escapes it
(``getattr(F, 'con' + 'v2d')``, a reference taken at import time, ``torch.ops.aten.convolution``).
Here each of the student's layers runs once in their kernel while every call into torch is recorded:
a ``TorchFunctionMode`` sees the functions called, however they were reached (``F.conv2d``,
``torch.conv2d``, ``torch._C._nn.linear``, a method of torch's own ``nn.Conv2d``), and a
``TorchDispatchMode`` sees the operators that reach the dispatcher (``aten.convolution``,
``aten.max_pool2d_with_indices``, ``aten.native_batch_norm``, ...). The kernel sends back only the
names it saw from the judge's list, through the data-only protocol.

It decides nothing by itself: the rubric's ``library_layers_at_runtime`` penalty is a suggestion,
and its message tells the marker which layer ran which of torch's own. Code in the kernel can see
and undo the recording (the modes are thread-local and visible to it): a hit is strong evidence,
its absence proves nothing, and test_source.py stays the automatic check.
"""

from __future__ import annotations

import numpy as np

from workers.judge.api import StudentError

# torch's own convolution, pooling, batch-norm and linear entry points, as functions (their
# __name__) and as aten operators (their overload packet's name, recorded as "aten.NAME").
LIBRARY_FUNCTIONS = (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution",
    "_convolution", "conv_tbc", "mkldnn_convolution", "cudnn_convolution",
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "_max_pool2d", "adaptive_max_pool2d", "fractional_max_pool2d",
    "batch_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_batch_norm_impl_index", "cudnn_batch_norm", "miopen_batch_norm", "instance_norm",
    "linear", "_linear", "bilinear", "_fused_linear",
)  # fmt: skip
LIBRARY_OPERATORS = (
    "convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution", "cudnn_convolution",
    "_slow_conv2d_forward", "thnn_conv2d", "_nnpack_spatial_convolution",
    "max_pool2d", "max_pool2d_with_indices", "mkldnn_max_pool2d", "quantized_max_pool2d",
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "cudnn_batch_norm", "miopen_batch_norm", "batch_norm",
    "linear", "_addmm_activation",
)  # fmt: skip

# (the student's class, the judge's own constructor call, an input shape)
LAYERS = (
    ("Conv2d", "Conv2d(3, 4, 3, stride=1, padding=1)", (2, 3, 6, 6)),
    ("MaxPool2d", "MaxPool2d(2)", (2, 3, 6, 6)),
    ("BatchNorm2d", "BatchNorm2d(3)", (4, 3, 5, 5)),
    ("Linear", "Linear(6, 4)", (5, 6)),
)

RECORD = """
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

_functions, _operators, _seen = set(functions), set(operators), set()


class _Functions(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in _functions:
            _seen.add(name)
        return func(*args, **(kwargs or {}))


class _Operators(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = getattr(getattr(func, 'overloadpacket', None), '__name__', '')
        if name in _operators:
            _seen.add('aten.' + name)
        return func(*args, **(kwargs or {}))


layer = None
with _Operators(), _Functions():
    try:
        layer = {ctor}
        layer.train()
        layer(torch.tensor(x).requires_grad_(True)).sum().backward()
        layer.eval()
        with torch.no_grad():
            layer(torch.tensor(x))
    except Exception:
        pass  # the layer's own tests judge whether it works; this one only records
used = sorted(str(name) for name in _seen)
"""


def library_calls(student, ctor: str, x: np.ndarray) -> list[str]:
    """The names from our lists that the student's layer reached while running; [] when it could not run."""
    try:
        got = student.run(
            RECORD.replace("{ctor}", ctor),
            inputs={"x": x, "functions": list(LIBRARY_FUNCTIONS), "operators": list(LIBRARY_OPERATORS)},
            outputs=["used"],
        )
    except StudentError:
        return []
    used = got.get("used")
    known = set(LIBRARY_FUNCTIONS) | {f"aten.{name}" for name in LIBRARY_OPERATORS}
    # Only names of our own lists are ever repeated: the kernel's answer is untrusted text.
    return sorted({u for u in used if isinstance(u, str) and u in known}) if isinstance(used, list) else []


def test_layers_from_scratch_at_runtime(student, rng):
    hits = []
    for name, ctor, shape in LAYERS:
        x = rng.normal(size=shape).astype(np.float32)
        used = library_calls(student, ctor, x)
        if used:
            hits.append(f"{name} ran torch's own {', '.join(used)}")
    assert not hits, "while the layers ran, torch's own layers were called: " + "; ".join(hits)
