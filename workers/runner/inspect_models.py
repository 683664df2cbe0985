"""Describe a submission's model files without running anything of the student's.

Runs inside the sandbox (``python -I -B /opt/grader/runner/inspect_models.py /submission/model.pt ...``),
with nothing but the course runtime: it imports nothing of the grader. Model files are untrusted,
so nothing in them is ever run:

- TorchScript (a zip holding ``constants.pkl`` or ``code/``; ``.ts`` files) is never loaded.
  ``torch.jit.load`` would compile and run the archive's own code (a TorchScript ``print`` in it
  could write a fake result line here); instead the archive's pickles are read opcode by opcode
  (``pickletools.genops``: decoded, nothing built or called) for their tensor records, and the
  sizes of the stored tensors come from the zip's ``data/`` and ``constants/`` entries.
- anything else ``.pt``/``.pth``: ``torch.load(weights_only=True, map_location="cpu")``, which
  refuses any global but tensors and plain containers (a ``__reduce__`` calling ``os.system`` is
  refused, not run); its count comes from the archive like TorchScript's (or, for torch.save's
  old non-zip format, from the loaded tensors' storages).
- ``.pt2`` (``torch.export``): its archive layout only. ``torch.export.load`` would unpickle
  constants with ``weights_only=False``, so it is never called here.

The parameter count is the one number both the pre-check and the judge's verdict use, with one
rule (``storage_count``): every stored tensor counts (parameters, buffers, constants, any dtype),
each storage once, as max(elements, bytes / 4). Keeping weights as buffers, as int32 bit
patterns, in float16, or packed into float64 or int8 storages gains nothing.

Output, on stdout, one JSON object per line: ``{"checking": NAME}`` before each file (so the host
can blame a file that crashes the loader) and then its result::

    {"name": "model.pt", "loads": true, "kind": "state_dict", "parameters": 11172, "tensors": 4,
     "error": null, "state_dict": {"shapes": {KEY: SHAPE, ...}, "keys": N}}

(``state_dict`` only for a state_dict: the judge's ``models`` fixture reads it.)
"""

from __future__ import annotations

import json
import os
import pickletools
import sys
import zipfile
from typing import Any

ERROR_CHARS = 300
MAX_KEYS = 4096  # shapes listed per state_dict (the output stays well under the host's 1 MiB cap)
KEY_CHARS = 200


def _kind_of_zip(path: str) -> str | None:
    """'torchscript', 'exported' (torch.export), 'zip' (torch.save's format) or None (not a zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    parts = [n.split("/") for n in names]
    if any(p[-1] == "archive_format" for p in parts):
        return "exported"
    if any(p[-1] == "constants.pkl" or "code" in p[1:-1] for p in parts):
        return "torchscript"
    return "zip"


# Bytes per element of each storage type torch writes into its archives ("torch FloatStorage").
STORAGE_ITEMSIZE = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
    "UInt16Storage": 2,
    "UInt32Storage": 4,
    "UInt64Storage": 8,
    "Float8_e4m3fnStorage": 1,
    "Float8_e5m2Storage": 1,
    "Float8_e4m3fnuzStorage": 1,
    "Float8_e5m2fnuzStorage": 1,
    "UntypedStorage": 1,
}
RECORD_PICKLES = {"data.pkl": "data/", "constants.pkl": "constants/"}  # pickle -> the folder of its storages


def storage_count(nbytes: int, itemsize: int) -> int:
    """The one counting rule: a stored tensor of ``nbytes`` bytes in ``itemsize``-byte elements
    counts max(elements, ceil(bytes / 4)): fp16 gains nothing, int8 or float64 packing hides nothing."""
    itemsize = max(1, int(itemsize))
    return max(nbytes // itemsize, -(-nbytes // 4))


class _Global:
    def __init__(self, module: object, name: object) -> None:
        self.module, self.name = module, name


def storage_records(data: bytes) -> dict[str, int]:
    """{key: itemsize} of every tensor storage a pickle refers to (torch's persistent ids
    ``("storage", torch.XStorage, key, location, numel)``), found by decoding its opcodes with
    ``pickletools.genops`` on a stack of plain values: no object is built, no global looked up,
    nothing called. Raises ``ValueError`` for a pickle that does not decode."""
    stack: list[Any] = []  # plain values, _Global, or None for what was not built
    marks: list[int] = []
    memo: dict[Any, Any] = {}
    found: dict[str, int] = {}
    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name == "MARK":
            marks.append(len(stack))
        elif name == "GLOBAL":
            assert isinstance(arg, str)  # genops decodes GLOBAL's argument as "module name"
            stack.append(_Global(*(arg.split(" ", 1) + [""])[:2]))
        elif name == "STACK_GLOBAL":
            qual, module = stack.pop(), stack.pop()
            stack.append(_Global(module, qual))
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(arg))
        elif name == "TUPLE":
            start = marks.pop()
            items = tuple(stack[start:])
            del stack[start:]
            stack.append(items)
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name in ("BINPERSID", "PERSID"):
            pid = stack.pop() if name == "BINPERSID" else None
            if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
                kind = str(pid[1].name if isinstance(pid[1], _Global) else pid[1])
                found[str(pid[2])] = STORAGE_ITEMSIZE.get(kind.rsplit(".", 1)[-1], 1)  # unknown: 1 byte each
            stack.append(None)
        else:
            _generic(op, arg, stack, marks)
    return found


def _generic(op: pickletools.OpcodeInfo, arg: Any, stack: list[Any], marks: list[int]) -> None:
    """Any other opcode: its documented stack effect, with plain values for the constants."""
    before, after = op.stack_before, op.stack_after
    if pickletools.markobject in before:
        start = marks.pop()
        del stack[start:]
        before = before[: before.index(pickletools.markobject)]
    if len(stack) < len(before):
        raise ValueError(f"{op.name} on a stack of {len(stack)}")
    if before:
        del stack[-len(before) :]
    if len(after) == 1 and not before and op.arg is not None:
        stack.append(arg)  # an int, a float, a string, bytes
    elif op.name == "EMPTY_TUPLE":
        stack.append(())
    else:
        stack.extend([None] * len(after))


def count_archive(archive: zipfile.ZipFile) -> tuple[int, int]:
    """(parameters, tensors) stored in a torch zip archive (torch.save's or TorchScript's): every
    entry of each record pickle's storage folder, counted by ``storage_count`` with the element size
    its record gives (an entry no record names, 1 byte per element: nothing stored is left out).
    TorchScript's ``traced_inputs`` (example inputs, not the model) are not counted."""
    sizes: dict[str, int] = {}  # a name may appear twice in a zip: the larger entry counts
    for info in archive.infolist():
        if not info.is_dir():
            sizes[info.filename] = max(sizes.get(info.filename, 0), info.file_size)
    itemsizes: dict[str, int] = {}
    for path in sizes:
        folder, _, base = path.rpartition("/")
        if base in RECORD_PICKLES:
            prefix = f"{folder}/" if folder else ""
            for key, size in storage_records(archive.read(path)).items():
                itemsizes[prefix + RECORD_PICKLES[base] + key] = size
    stored = [p for p in sizes if _in_storage_folder(p)]
    total = sum(storage_count(sizes[p], itemsizes.get(p, 1)) for p in stored)
    return total, len(stored)


def _in_storage_folder(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 2 and f"{parts[-2]}/" in RECORD_PICKLES.values()


def count_loaded(obj: Any) -> tuple[int, int]:
    """(parameters, tensors) of a loaded object (torch.save's old non-zip format): each distinct
    storage of every tensor in it, by the same ``storage_count`` rule."""
    import torch

    storages: dict[int, tuple[int, int]] = {}
    stack: list[Any] = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            storages.setdefault(storage.data_ptr() or id(storage), (storage.nbytes(), value.element_size()))
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return sum(storage_count(n, size) for n, size in storages.values()), len(storages)


def state_dict_shapes(obj: Any) -> dict[str, Any]:
    """For the CW2 judge's ``models`` fixture: each key's shape (the first MAX_KEYS keys)."""
    shapes = {str(k)[:KEY_CHARS]: list(v.shape) for k, v in list(obj.items())[:MAX_KEYS]}
    return {"shapes": shapes, "keys": len(obj)}


def _describe(obj: Any) -> str:
    import torch

    if isinstance(obj, torch.Tensor):
        return "tensor"
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return "state_dict"
    if isinstance(obj, dict):
        return "checkpoint"  # e.g. {"model": state_dict, "epoch": 3}
    return "object"


def _short(exc: BaseException) -> str:
    """One line a student can act on; torch's weights-only refusal advises weights_only=False,
    which is exactly what must not be done with an untrusted file, so only its reason is kept."""
    text = str(exc)
    if "Weights only load failed" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        detail = next((ln for ln in lines if ln.startswith(("Trying to load", "Unsupported"))), "")
        reason = "it is not a file of tensors that loads safely (save model.state_dict() with torch.save)"
        return f"{reason}: {detail}"[:ERROR_CHARS] if detail else reason
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first}"[:ERROR_CHARS]


def inspect_file(path: str) -> dict[str, Any]:
    """Describe one model file: {"name", "loads", "kind", "parameters", "tensors", "error"}."""
    result: dict[str, Any] = {
        "name": os.path.basename(path),
        "loads": False,
        "kind": None,
        "parameters": None,
        "tensors": None,
        "error": None,
    }
    if not os.path.isfile(path):
        result["error"] = "the file is missing"
        return result
    zip_kind = _kind_of_zip(path)
    try:
        if zip_kind == "exported":
            result.update(_inspect_exported(path))
            return result
        if zip_kind == "torchscript" or path.endswith(".ts"):
            result["kind"] = "torchscript"
            result["parameters"], result["tensors"] = _count_torchscript(path, zip_kind)
        else:
            import torch

            obj = torch.load(path, weights_only=True, map_location="cpu")
            result["kind"] = _describe(obj)
            if zip_kind == "zip":
                with zipfile.ZipFile(path) as archive:
                    result["parameters"], result["tensors"] = count_archive(archive)
            else:
                result["parameters"], result["tensors"] = count_loaded(obj)
            if result["kind"] == "state_dict":
                result["state_dict"] = state_dict_shapes(obj)
        result["loads"] = True
    except Exception as exc:  # any failure is this file's verdict
        result["error"] = _short(exc)
    return result


def _count_torchscript(path: str, zip_kind: str | None) -> tuple[int, int]:
    """A TorchScript archive's count, read from the zip; it is never loaded (see the docstring)."""
    if zip_kind != "torchscript":
        raise ValueError("it is not a TorchScript archive (save it with torch.jit.save)")
    with zipfile.ZipFile(path) as archive:
        if not any(n.rpartition("/")[2] == "data.pkl" for n in archive.namelist()):
            raise ValueError("the TorchScript archive holds no data.pkl (save it with torch.jit.save)")
        return count_archive(archive)


def _inspect_exported(path: str) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        fmt = next(n for n in archive.namelist() if n.split("/")[-1] == "archive_format")
        if archive.read(fmt).strip() != b"pt2":
            return {"kind": "exported", "error": "its archive_format is not pt2"}
        models = [n for n in archive.namelist() if "/models/" in f"/{n}" and n.endswith(".json")]
        if not models:
            return {"kind": "exported", "error": "the torch.export archive holds no model"}
        for name in models:
            json.loads(archive.read(name))
    return {"kind": "exported", "loads": True}


def main(argv: list[str]) -> int:
    for path in argv:
        print(json.dumps({"checking": os.path.basename(path)}), flush=True)
        print(json.dumps(inspect_file(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
