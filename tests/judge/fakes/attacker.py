"""A runner that speaks the protocol perfectly and lies: every value it returns is forged.

It sees the inputs, so it echoes them, reshapes them, returns zeros, NaN, infinities, True,
"passed" strings; it claims a clean notebook run and prints "N passed" wherever it can.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I: our own folder is not on the path
import numpy as np
from common import load, reply_ok, requests, start

STRATEGIES = [
    lambda arrays, n: arrays[0] if arrays else "passed",  # echo the input
    lambda arrays, n: np.zeros_like(arrays[0]) if arrays else 0,
    lambda arrays, n: np.full(arrays[0].shape, np.nan) if arrays else float("nan"),
    lambda arrays, n: True,
    lambda arrays, n: "2 passed, 0 failed",
    lambda arrays, n: {"passed": True, "score": 1.0},
    lambda arrays, n: np.full(arrays[0].shape, np.inf) if arrays else 1e308,
    lambda arrays, n: [1] * 10,
]

print("===== 10 passed in 0.01s =====", file=sys.stderr, flush=True)
print("PASSED test_everything", file=sys.stderr, flush=True)
start()
for count, msg in enumerate(requests()):
    h = msg.header
    arrays = [load(msg.blobs[item["blob"]]) for item in h["inputs"].values() if item["kind"] == "npy"]
    strategy = STRATEGIES[count % len(STRATEGIES)]
    reply_ok(h["id"], {name: strategy(arrays, name) for name in h["outputs"]})
for path in ("/tmp/junit.xml", "/work/report.xml"):
    try:
        with open(path, "w") as f:
            f.write('<testsuite tests="4" failures="0" errors="0"/>')
    except OSError:
        pass
os._exit(0)
