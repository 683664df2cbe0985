"""Experiment (not shipped): a fork server against cold starts, for the runtime's torch.

    .venv/bin/python bench/forkserver.py [--children 10]   (as root: the children unshare namespaces)

A template process (the course runtime's python) imports numpy and torch once, then forks one child
per "job". Each child enters fresh namespaces (mount, network, IPC, UTS; a private tmpfs on /tmp),
drops to uid 65534, reseeds (a forked child inherits the template's RNG state), and does a tiny
torch computation. Measured against a cold start of the same work (``python -c "import torch ..."``)
in the same run: wall time until the child's answer, and CPU-seconds per child (rusage of waited
children). Also shown: without the reseed, every child draws the same "random" numbers from torch
(Python's random and numpy's global state are reseeded at fork by the libraries themselves), the
one leak a fork server adds that fresh processes do not have.

What it leaves out, and why the pool ships instead: the child is not a bwrap/docker sandbox (no
pid namespace, no seccomp filter, no cgroup of its own, no kernel process: ipykernel would need
its own forked kernel, and a forked process cannot re-exec into docker's container), so the
isolation test cannot pass on both backends with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import textwrap
import time
from pathlib import Path

RUNTIME_PY = "/opt/grader/runtime/bin/python"
REPO = Path(__file__).resolve().parent.parent

TEMPLATE = textwrap.dedent(
    """
    import ctypes, json, os, random, resource, sys, time
    import numpy as np
    import torch
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x04000000, 0x08000000, 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    n, reseed = int(sys.argv[1]), sys.argv[2] == "1"
    print(json.dumps({"ready": True}), flush=True)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            if libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) != 0:
                os._exit(3)
            libc.mount(b"none", b"/", None, 0x40000 | 0x4000, None)  # MS_REC|MS_PRIVATE: nothing propagates out
            if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=64m") != 0:
                os._exit(4)
            os.setgroups([]); os.setgid(65534); os.setuid(65534)
            if reseed:
                np.random.seed(None); torch.seed()
            value = float(torch.ones(3).sum()) + float(np.random.random())
            draws = {"torch": float(torch.rand(1)), "numpy": float(np.random.random()), "random": random.random()}
            os.write(w, json.dumps({"value": value, "draw": draws}).encode())
            os._exit(0)
        os.close(w)
        answer = json.loads(os.read(r, 4096))
        os.close(r)
        os.waitpid(pid, 0)
        out.append({"wall_s": time.perf_counter() - t0, "draw": answer["draw"]})
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"children": out, "children_cpu_s": ru.ru_utime + ru.ru_stime}), flush=True)
    """
)
COLD = "import numpy as np, torch; print(float(torch.ones(3).sum()) + float(np.random.random()))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=10)
    args = parser.parse_args()
    import resource

    cold_wall = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(args.children):
        t0 = time.perf_counter()
        subprocess.run([RUNTIME_PY, "-I", "-c", COLD], check=True, capture_output=True)
        cold_wall.append(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cold_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.children

    runs = {}
    for reseed in ("1", "0"):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [RUNTIME_PY, "-I", "-c", TEMPLATE, str(args.children), reseed], check=True, capture_output=True, text=True
        )
        lines = [json.loads(x) for x in proc.stdout.splitlines()]
        runs[reseed] = (lines[-1], time.perf_counter() - t0)
    forked, template_s = runs["1"]
    walls = [c["wall_s"] for c in forked["children"]]
    result = {
        "children": args.children,
        "cold_start_wall_s_median": round(statistics.median(cold_wall), 3),
        "cold_start_cpu_s_each": round(cold_cpu, 3),
        "forked_child_wall_s_median": round(statistics.median(walls), 4),
        "forked_child_cpu_s_each": round(forked["children_cpu_s"] / args.children, 4),
        "template_start_and_all_children_s": round(template_s, 2),
        "ratio_forked_vs_cold_wall": round(statistics.median(walls) / statistics.median(cold_wall), 4),
        "distinct_draws_with_reseed": {
            lib: len({c["draw"][lib] for c in forked["children"]}) for lib in ("torch", "numpy", "random")
        },
        "distinct_draws_without_reseed": {
            lib: len({c["draw"][lib] for c in runs["0"][0]["children"]}) for lib in ("torch", "numpy", "random")
        },
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "forkserver.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
