"""Dockerfile.gpu's check that torchvision is the base image's own build, never a wheel that shadows it.

    python3 check_base_torchvision.py --record FACTS.json   # the base's Python, before any venv exists
    VENV/bin/python check_base_torchvision.py FACTS.json    # each venv (--system-site-packages) after

The first records the base's torchvision: version, where it lives, and the CUDA build of the base's
torch. The second fails (exit 1, with why) unless this interpreter imports that same torchvision
(same version, same file: a venv that installed its own would shadow it) and, where the base's torch
is a CUDA build, torchvision's C++ ops load (the CUDA torchvision that matches torch; a CPU wheel or
a mismatched build loses them). Standard library only: it runs in any of the image's interpreters.
"""

from __future__ import annotations

import json
import os
import sys


def facts() -> dict[str, object]:
    import torch
    import torchvision
    from torchvision import extension

    return {
        "version": torchvision.__version__,
        "file": os.path.realpath(torchvision.__file__),  # a base moved under /usr keeps a link at its old path
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "ops": bool(extension._has_ops()),
    }


def problems(base: dict[str, object], here: dict[str, object]) -> list[str]:
    found = []
    if here["version"] != base["version"]:
        found.append(f"torchvision {here['version']} here, the base ships {base['version']}")
    if here["file"] != base["file"]:
        found.append(f"torchvision is imported from {here['file']}, not the base's {base['file']} (a wheel shadows it)")
    if here["torch"] != base["torch"]:
        found.append(f"torch {here['torch']} here, the base ships {base['torch']}")
    if base["cuda"] and not here["ops"]:
        found.append(f"torch is a CUDA {base['cuda']} build but torchvision's C++ ops do not load: not its CUDA build")
    return found


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--record":
        seen = facts()
        with open(argv[1], "w") as fh:
            json.dump(seen, fh)
        print(f"base: torchvision {seen['version']} at {seen['file']}, torch {seen['torch']} (CUDA {seen['cuda']})")
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as fh:
        base = json.load(fh)
    here = facts()
    found = problems(base, here)
    for line in found:
        print(f"{sys.executable}: {line}", file=sys.stderr)
    if not found:
        ops = "its C++ ops load" if here["ops"] else "without C++ ops (a CPU torch)"
        print(f"{sys.executable}: the base's torchvision {here['version']}, {ops}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
