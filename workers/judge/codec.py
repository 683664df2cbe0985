"""Values across the protocol: the judge's inputs out, the student's outputs in (hostile).

Arrays travel as ``.npy`` bytes. On the way in, the header is parsed by numpy's own header
reader (``ast.literal_eval`` of a dict, length-capped), then checked here: numeric or bool
dtype only (no object, structured, string or datetime dtypes), the data length exactly what
the shape says (so a huge shape over a tiny blob is refused before anything is allocated).
Pickle is never involved.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

ALLOWED_KINDS = "biufc"
MAX_NDIM = 32


class DecodeError(ValueError):
    pass


def encode_array(value: np.ndarray) -> bytes:
    if value.dtype.kind not in ALLOWED_KINDS or value.dtype.fields is not None or value.dtype.subdtype is not None:
        raise TypeError(f"arrays sent to the student must be numeric or bool, not {value.dtype}")
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)  # not ascontiguousarray: it turns 0-d into 1-d
    return buf.getvalue()


def decode_array(data: bytes, max_bytes: int) -> np.ndarray:
    if len(data) > max_bytes:
        raise DecodeError(f"array of {len(data)} bytes is over the limit of {max_bytes}")
    f = io.BytesIO(data)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise DecodeError(f"unsupported .npy version {version}")
    except DecodeError:
        raise
    except Exception as e:  # numpy raises ValueError/SyntaxError/etc. on a bad header
        raise DecodeError(f"bad .npy header: {type(e).__name__}: {str(e)[:200]}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in ALLOWED_KINDS:
        raise DecodeError(f"dtype {dtype} is not allowed (numeric or bool only)")
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise DecodeError(f"bad shape {shape!r}")
    count = math.prod(shape)
    body = data[f.tell() :]
    if count * dtype.itemsize != len(body):
        raise DecodeError(f"data is {len(body)} bytes, shape {shape} of {dtype} needs {count * dtype.itemsize}")
    array = np.frombuffer(body, dtype=dtype, count=count)
    array = array.reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)  # native order, writable, owns its memory


JSON_TYPES = (type(None), bool, int, float, str)


def check_json_input(value: Any, path: str = "value", depth: int = 0) -> Any:
    """Inputs a test passes as JSON: None, bool, int, float, str, lists and str-keyed dicts of these."""
    if depth > 64:
        raise TypeError(f"{path}: nested too deeply")
    if isinstance(value, JSON_TYPES):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, (list, tuple)):
        return [check_json_input(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{path}: dict keys must be str")
        return {k: check_json_input(v, f"{path}[{k!r}]", depth + 1) for k, v in value.items()}
    raise TypeError(f"{path}: {type(value).__name__} is not an array or JSON value")


def encode_input(value: Any) -> tuple[str, Any]:
    """-> ("npy", bytes) or ("json", value)."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return "npy", encode_array(value)
    return "json", check_json_input(value)
