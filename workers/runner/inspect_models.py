"""Load a submission's model files without running anything of the student's, and describe them.

Runs inside the sandbox (``python -I -B /opt/grader/runner/inspect_models.py /submission/model.pt ...``),
with nothing but the course runtime: it imports nothing of the grader. Model files are untrusted
pickles, so they are only ever read by loaders that build tensors and nothing else:

- TorchScript (a zip holding ``constants.pkl`` or ``code/``; ``.ts`` files): ``torch.jit.load``,
  whose C++ unpickler builds TorchScript objects only, never Python ones;
- anything else ``.pt``/``.pth``: ``torch.load(weights_only=True, map_location="cpu")``, which
  refuses any global but tensors and plain containers (a ``__reduce__`` calling ``os.system`` is
  refused, not run);
- ``.pt2`` (``torch.export``): its archive layout only. ``torch.export.load`` would unpickle
  constants with ``weights_only=False``, so it is never called here.

Output, on stdout, one JSON object per line: ``{"checking": NAME}`` before each file (so the host
can blame a file that crashes the loader) and then its result::

    {"name": "model.pt", "loads": true, "kind": "state_dict", "parameters": 11172, "tensors": 4,
     "error": null, "state_dict": {"shapes": {KEY: SHAPE, ...}, "float_elements": N, "keys": N}}

(``state_dict`` only for a state_dict: the judge's ``models`` fixture reads it.)

Meant to be reused: the CW2 judge can run this same script in a sandbox (or call ``inspect_file``
there) to count a model's parameters without executing any student code.
"""

import json
import os
import sys
import zipfile

BATCHNORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # in a state_dict, not parameters
ERROR_CHARS = 300
MAX_KEYS = 4096  # shapes listed per state_dict (the output stays well under the host's 1 MiB cap)
KEY_CHARS = 200


def _kind_of_zip(path):
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


def count_tensors(obj):
    """(parameters, tensors) in a loaded object: every distinct tensor's elements, BatchNorm's
    running statistics left out (they are buffers). Tied weights (one storage) count once."""
    import torch

    seen, params, tensors = set(), 0, 0
    stack = [("", obj)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, torch.Tensor):
            ident = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape),
                     tuple(value.stride()))
            if ident in seen:
                continue
            seen.add(ident)
            tensors += 1
            if not str(key).endswith(BATCHNORM_BUFFERS):
                params += value.numel()
        elif isinstance(value, dict):
            stack.extend((k, v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((key, v) for v in value)
    return params, tensors


def state_dict_shapes(obj):
    """For the CW2 judge's ``models`` fixture: each key's shape (the first MAX_KEYS keys) and the
    elements of every floating-point tensor, buffers included."""
    shapes = {str(k)[:KEY_CHARS]: list(v.shape) for k, v in list(obj.items())[:MAX_KEYS]}
    floating = sum(v.numel() for v in obj.values() if v.is_floating_point())
    return {"shapes": shapes, "float_elements": floating, "keys": len(obj)}


def _describe(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return "tensor"
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return "state_dict"
    if isinstance(obj, dict):
        return "checkpoint"  # e.g. {"model": state_dict, "epoch": 3}
    return "object"


def _short(exc):
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


def inspect_file(path):
    """Describe one model file: {"name", "loads", "kind", "parameters", "tensors", "error"}."""
    result = {"name": os.path.basename(path), "loads": False, "kind": None, "parameters": None,
              "tensors": None, "error": None}
    if not os.path.isfile(path):
        result["error"] = "the file is missing"
        return result
    zip_kind = _kind_of_zip(path)
    try:
        if zip_kind == "exported":
            result.update(_inspect_exported(path))
            return result
        import torch

        if zip_kind == "torchscript" or path.endswith(".ts"):
            module = torch.jit.load(path, map_location="cpu")
            result["kind"] = "torchscript"
            result["parameters"] = sum(p.numel() for p in module.parameters())
            result["tensors"] = len(list(module.parameters())) + len(list(module.buffers()))
        else:
            obj = torch.load(path, weights_only=True, map_location="cpu")
            result["kind"] = _describe(obj)
            result["parameters"], result["tensors"] = count_tensors(obj)
            if result["kind"] == "state_dict":
                result["state_dict"] = state_dict_shapes(obj)
        result["loads"] = True
    except Exception as exc:  # noqa: BLE001 - any failure is this file's verdict
        result["error"] = _short(exc)
    return result


def _inspect_exported(path):
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


def main(argv):
    for path in argv:
        print(json.dumps({"checking": os.path.basename(path)}), flush=True)
        print(json.dumps(inspect_file(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
