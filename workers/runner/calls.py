"""One ``run`` request: inputs in, the test's snippet run in the kernel, named outputs back.

Inputs and outputs cross between this process and the kernel as files in a fresh private
directory per call (``.npy`` loaded with ``allow_pickle=False``, or JSON). The code that runs in
the kernel is sent whole with every call and lives in its own namespace, so nothing the student
defined (or redefined) can stand in for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MESSAGE_CAP = 1000

# Runs in the kernel, in a private dict holding _user_ns (the notebook's globals) and _io (the call dir).
KERNEL_CALL = r"""
import json as _json, os as _os, sys as _sys
import numpy as _np

def _plain(v):
    # json.dumps fallback: numpy/torch scalars and nested arrays become plain Python values.
    torch = _sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return (v.float() if v.dtype == torch.bfloat16 else v).tolist()
    if isinstance(v, (_np.generic, _np.ndarray)) and v.dtype.kind in "biuf":
        return v.tolist()
    if isinstance(v, (tuple, set, frozenset)):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not an array or JSON value")

def _encode(v, i):
    torch = _sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor):
        v = v.detach()
        if v.layout != torch.strided:
            v = v.to_dense()
        if v.dtype == torch.bfloat16:
            v = v.float()
        v = v.cpu().resolve_conj().resolve_neg().numpy()
    if isinstance(v, _np.ndarray):
        if v.dtype.kind not in "biufc" or v.dtype.fields is not None or v.dtype.subdtype is not None:
            raise TypeError(f"array of dtype {v.dtype} cannot be returned (numeric or bool only)")
        name = f"{i}.npy"
        _np.save(_os.path.join(_io, "out", name), v, allow_pickle=False)
        return {"kind": "npy", "file": name}
    if isinstance(v, _np.generic):
        v = v.item()
    text = _json.dumps(v, default=_plain, allow_nan=True)
    return {"kind": "json", "value": _json.loads(text)}

def _call():
    with open(_os.path.join(_io, "call.json")) as f:
        spec = _json.load(f)
    ns = dict(_user_ns)
    for name, item in spec["inputs"].items():
        if item["kind"] == "npy":
            ns[name] = _np.load(_os.path.join(_io, "in", item["file"]), allow_pickle=False)
        else:
            ns[name] = item["value"]
    try:
        exec(compile(spec["code"], "<test>", "exec"), ns)
        outputs = {}
        for i, name in enumerate(spec["outputs"]):
            if name not in ns:
                raise NameError(f"output {name!r} was not set by the snippet")
            outputs[name] = _encode(ns[name], i)
        result = {"status": "ok", "outputs": outputs}
    except BaseException as e:  # the student's code, whatever it raised (KeyboardInterrupt: ours)
        result = {"status": "error", "name": type(e).__name__, "message": str(e)[:1000]}
    tmp = _os.path.join(_io, "result.json.tmp")
    with open(tmp, "w") as f:
        _json.dump(result, f, allow_nan=True)
    _os.replace(tmp, _os.path.join(_io, "result.json"))

_call()
"""


def kernel_code(io_dir: Path) -> str:
    """The cell sent to the kernel: compile the wrapper in a private dict, reached through builtins."""
    return (
        f"__import__('builtins').exec(__import__('builtins').compile({KERNEL_CALL!r}, '<grader-call>', 'exec'), "
        f"{{'__name__': '__grader_call__', '_user_ns': __import__('builtins').globals(), '_io': {str(io_dir)!r}}})"
    )


class BadRequest(Exception):
    pass


def check_request(header: dict[str, Any], nblobs: int) -> None:
    """The judge is trusted, but a malformed request must not reach the kernel half-built."""
    if set(header) != {"type", "id", "code", "inputs", "outputs", "timeout"}:
        raise BadRequest(f"unexpected keys {sorted(header)}")
    if type(header["id"]) is not int or not isinstance(header["code"], str):
        raise BadRequest("bad id or code")
    t = header["timeout"]
    if type(t) not in (int, float) or not 0 < t <= 86400:
        raise BadRequest("bad timeout")
    if not isinstance(header["outputs"], list) or not all(
        isinstance(n, str) and _NAME.match(n) for n in header["outputs"]
    ):
        raise BadRequest("bad outputs")
    if len(set(header["outputs"])) != len(header["outputs"]):
        raise BadRequest("duplicate outputs")
    if not isinstance(header["inputs"], dict):
        raise BadRequest("bad inputs")
    used = []
    for name, item in header["inputs"].items():
        if not _NAME.match(name) or not isinstance(item, dict):
            raise BadRequest(f"bad input {name!r}")
        if item.get("kind") == "npy" and set(item) == {"kind", "blob"} and type(item["blob"]) is int:
            used.append(item["blob"])
        elif not (item.get("kind") == "json" and set(item) == {"kind", "value"}):
            raise BadRequest(f"bad input {name!r}")
    if sorted(used) != list(range(nblobs)):
        raise BadRequest("blobs do not match the inputs")


def write_call(io_dir: Path, header: dict[str, Any], blobs: list[bytes]) -> None:
    if io_dir.exists():
        shutil.rmtree(io_dir)
    (io_dir / "in").mkdir(parents=True, mode=0o700)
    (io_dir / "out").mkdir(mode=0o700)
    inputs = {}
    for name, item in header["inputs"].items():
        if item["kind"] == "npy":
            file = f"{item['blob']}.npy"
            (io_dir / "in" / file).write_bytes(blobs[item["blob"]])
            inputs[name] = {"kind": "npy", "file": file}
        else:
            inputs[name] = item
    spec = {"code": header["code"], "inputs": inputs, "outputs": header["outputs"]}
    (io_dir / "call.json").write_text(json.dumps(spec))


def read_result(
    io_dir: Path, call_id: int, outputs: list[str], max_json: int, max_blob: int, max_total: int
) -> tuple[dict[str, Any], list[bytes]]:
    """The kernel's result files -> a ``result`` reply. Too large or missing: an error reply."""

    def error(name: str, message: str) -> tuple[dict[str, Any], list[bytes]]:
        return {
            "type": "result",
            "id": call_id,
            "status": "error",
            "error": {"name": name, "message": message[:MESSAGE_CAP]},
        }, []

    path = io_dir / "result.json"
    try:
        size = path.stat().st_size
        if size > max_json:
            return error("OutputTooLarge", f"JSON outputs of {size} bytes are over the limit of {max_json}")
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return error("RuntimeError", "the snippet left no result (the kernel was interfered with)")
    if not isinstance(result, dict):
        return error("RuntimeError", "malformed result")
    if result.get("status") != "ok":
        name = str(result.get("name", "Error"))
        name = name if _NAME.match(name) else "Error"
        return error(name, str(result.get("message", "")))
    blobs: list[bytes] = []
    out: dict[str, Any] = {}
    total = size
    try:
        for name in outputs:
            item = result["outputs"][name]
            if item["kind"] == "npy":
                file = io_dir / "out" / os.path.basename(str(item["file"]))
                n = file.stat().st_size
                total += n
                if n > max_blob or total > max_total:
                    return error("OutputTooLarge", f"output {name!r} is too large ({n} bytes)")
                out[name] = {"kind": "npy", "blob": len(blobs)}
                blobs.append(file.read_bytes())
            else:
                out[name] = {"kind": "json", "value": item["value"]}
    except (KeyError, TypeError, OSError):
        return error("RuntimeError", "malformed result")
    return {"type": "result", "id": call_id, "status": "ok", "outputs": out}, blobs
