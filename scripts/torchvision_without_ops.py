"""Make PyPI's torchvision 0.28.0 importable beside the CPU build of torch 2.13.0.

    VENV/bin/python scripts/torchvision_without_ops.py

PyPI's Linux wheel of torchvision is the CUDA build: its C++ ops (``torchvision/_C.so``: nms,
roi_align, deform_conv2d ...) link against torch's CUDA libraries, so beside a CPU torch they do not
load. torchvision is written to run without them (``extension._has_ops()`` guards every meta
registration but two), yet 0.28.0 registers the fake kernels of ``nms`` and ``qnms`` unguarded, so
``import torchvision`` fails ("operator torchvision::nms does not exist"). This applies the same
guard to those two, in the installed copy of that exact file (its hash is checked), and nothing else.

Nothing the course uses needs the C++ ops (transforms, datasets, ``utils.make_grid``, models); what
does (``torchvision.ops.nms`` and friends) raises torchvision's own "Couldn't load custom C++ ops".
Where torchvision's ops load (a CPU build from download.pytorch.org/whl/cpu, or the CUDA base of
Dockerfile.gpu) this does nothing. Idempotent; exits 1 if torchvision still does not import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

# torchvision 0.28.0's torchvision/_meta_registrations.py, as PyPI's wheel installs it.
KNOWN_SHA256 = "7c55fdb854bb38899949edfa4e68c7bd69190ea1fed4ae51bf593277661fcbc3"
UNGUARDED = ('@torch.library.register_fake("torchvision::nms")', '@torch.library.register_fake("torchvision::qnms")')
GUARD = '''

def register_fake_if_ops(name):
    """Patched in by grader's scripts/torchvision_without_ops.py: register only where the ops loaded."""
    def wrapper(fn):
        return torch.library.register_fake(name)(fn) if torchvision.extension._has_ops() else fn

    return wrapper
'''


def imports() -> bool:
    return subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, cwd="/").returncode == 0


def main() -> int:
    if imports():
        print("torchvision imports: nothing to do")
        return 0
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        print("torchvision is not installed here", file=sys.stderr)
        return 1
    target = Path(spec.origin).parent / "_meta_registrations.py"
    text = target.read_text()
    if hashlib.sha256(text.encode()).hexdigest() != KNOWN_SHA256:
        print(f"{target} is not torchvision 0.28.0's file: not patched", file=sys.stderr)
        return 1
    anchor = "\n\n@register_meta("
    text = text.replace(anchor, GUARD + anchor, 1)
    for line in UNGUARDED:
        text = text.replace(line, line.replace("torch.library.register_fake", "register_fake_if_ops"))
    target.write_text(text)
    for cached in target.parent.glob("__pycache__/_meta_registrations.*.pyc"):
        cached.unlink()
    if not imports():
        print("torchvision still does not import after the patch", file=sys.stderr)
        return 1
    print(f"patched {target}: torchvision imports without its C++ ops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
