"""The runner end to end: a real ipykernel in the real bwrap sandbox, driven through the judge's client."""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest
from runner_harness import start_runner

from workers.judge.api import StudentCrashed, StudentException, StudentTimeout

pytestmark = pytest.mark.sandbox

NOTEBOOK = [
    # 0: Colab-era set-up: the shell line and the magic are skipped, the imports run
    "!pip install -q torchsummary\n%matplotlib inline\nimport numpy as np\nimport torch\nimport torch.nn as nn\n"
    "import matplotlib.pyplot as plt",
    # 1: Colab-only
    "from google.colab import drive\ndrive.mount('/content/drive')",
    # 2: hard-coded CUDA on a machine without a GPU
    "device = torch.device('cuda')\n"
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n"
    "    def forward(self, x):\n        return self.fc(x)\n"
    "torch.manual_seed(0)\nmodel = Net().to(device)\nmodel.cuda()\nx0 = torch.ones(1, 4, device='cuda')\n"
    "print('device:', next(model.parameters()).device, model(x0).device)",
    # 3: definitions
    "def double(a):\n    return a * 2\nSCALE = 3",
    # 4: a crash does not stop later cells
    "raise RuntimeError('student bug')",
    # 5
    "after_error = double(SCALE)",
    # 6: a flood of output is capped
    "for _ in range(50):\n    print('x' * 10_000)",
    # 7: the student's own module, next to the notebook
    "import helper\nHELPER = helper.VALUE",
    # 8: a plot (font cache prebuilt)
    "plt.plot([1, 2, 3]); plt.show()",
    # 9: loops run in full mode
    "total = 0\nfor i in range(10):\n    total += i",
    # 10: nobody answers input(): an error, not a hang
    "name = input('your name? ')",
]
FILES = {"helper.py": b"VALUE = 'from helper'\n", "model.pth": b"ORIGINAL"}


@pytest.fixture(scope="module")
def runner():
    """One kernel shared by the tests that leave it as they found it (kernel start is the slow part)."""
    t0 = time.monotonic()
    r = start_runner(
        NOTEBOOK, files=FILES, execution={"max_blob_mb": 1, "max_message_mb": 4, "output_bytes_per_cell": 60_000}
    )
    r.ready_s = time.monotonic() - t0
    yield r
    r.close()


def test_report(runner):
    report = runner.report
    assert report["mode"] == "full" and report["restarts"] == 0 and not report["timed_out"]
    status = {c["index"]: c["status"] for c in report["cells"]}
    assert status == {i: "ok" for i in range(11)} | {4: "error", 10: "error"}
    assert report["cells"][10]["error"].startswith("StdinNotImplementedError") and report["cells"][10]["duration_s"] < 5
    assert report["cells"][4]["error"] == "RuntimeError: student bug"
    assert [(s["cell"], s["line"], s["reason"]) for s in report["skipped"]] == [
        (0, 1, "shell command"),
        (0, 2, "IPython magic %matplotlib"),
        (1, 1, "Colab-only import"),
        (1, 2, "Colab-only call"),
    ]
    assert report["skipped"][0]["source"] == "!pip install -q torchsummary"


def test_executed_notebook(runner):
    nb = json.loads(runner.client.notebook_bytes)
    text = lambda i: "".join("".join(o.get("text", "")) for o in nb["cells"][i]["outputs"])  # noqa: E731
    assert text(2) == "device: cpu cpu\n"  # the CUDA fallback mapped every request to the CPU
    assert "grader: output truncated" in text(6) and len(text(6)) < 65_000
    assert any(o["output_type"] == "error" and o["ename"] == "RuntimeError" for o in nb["cells"][4]["outputs"])
    assert any("image/png" in o.get("data", {}) for o in nb["cells"][8]["outputs"])


def test_values_round_trip(runner):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = runner.run(
        "y = model(torch.from_numpy(x))\nd = double(k)\nflag = bool(HELPER)\nt = total",
        inputs={"x": x, "k": 21},
        outputs=["y", "d", "flag", "t"],
    )
    assert out["y"].shape == (2, 2) and out["y"].dtype == np.float32  # a tensor comes back as an array
    assert out["d"] == 42 and out["flag"] is True and out["t"] == 45


def test_output_conversions(runner):
    out = runner.run(
        "g = torch.ones(3, requires_grad=True) * 2\nb = torch.ones(2, dtype=torch.bfloat16)\n"
        "s = np.float32(0.5)\ni = np.int64(7)\nl = [np.float64(1.5), torch.tensor(2.0), (1, 2)]\n"
        "z = torch.tensor(3.0)\nbo = np.array([True, False])",
        outputs=["g", "b", "s", "i", "l", "z", "bo"],
    )
    assert out["g"].tolist() == [2.0, 2.0, 2.0]
    assert out["b"].dtype == np.float32
    assert out["s"] == 0.5 and out["i"] == 7 and out["l"] == [1.5, 2.0, [1, 2]]
    assert out["z"].shape == () and out["bo"].dtype == bool


def test_each_call_gets_a_fresh_namespace(runner):
    runner.run("SCALE = 100\nnew_name = 1\ndel double")
    out = runner.run("s = SCALE\nhas_new = 'new_name' in dir()\nd = double(1)", outputs=["s", "has_new", "d"])
    assert out == {"s": 3, "has_new": False, "d": 2}


def test_student_exception(runner):
    with pytest.raises(StudentException) as info:
        runner.run("double(None)")
    assert info.value.name == "TypeError" and "NoneType" in info.value.message


@pytest.mark.parametrize(
    "code, name",
    [
        ("y = object()", "TypeError"),
        ("y = np.array(['a'])", "TypeError"),
        ("y = {1, 2}.__iter__()", "TypeError"),
        ("pass", "NameError"),
        ("y = np.zeros(1_000_000)", "OutputTooLarge"),  # 8 MB: over this session's 1 MB blob cap
    ],
)
def test_outputs_that_cannot_come_back(runner, code, name):
    with pytest.raises(StudentException) as info:
        runner.run(code, outputs=["y"])
    assert info.value.name == name
    assert runner.run("y = 1", outputs=["y"]) == {"y": 1}  # still in service


def test_interruptible_timeout_keeps_the_kernel(runner):
    t0 = time.monotonic()
    with pytest.raises(StudentTimeout) as info:
        runner.run("import time\ntime.sleep(30)", timeout=1)
    assert info.value.restarted is False and time.monotonic() - t0 < 5
    assert runner.run("t = total", outputs=["t"]) == {"t": 45}  # state from the loop survives: no restart


def test_round_trip_time(runner):
    runner.run("pass")
    t0 = time.monotonic()
    for _ in range(20):
        runner.run("y = double(x)", inputs={"x": np.ones(100)}, outputs=["y"])
    per_call = (time.monotonic() - t0) / 20
    print(f"kernel ready in {runner.ready_s:.2f}s; run round trip {per_call * 1000:.1f} ms")
    assert per_call < 0.5


def test_the_sandbox_as_the_student_sees_it(runner):
    snippet = """
import os, torch
uid = os.getuid()
cwd = os.getcwd()
files = sorted(f for f in os.listdir('.') if f != '__pycache__')
env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HOME", "MPLCONFIGDIR")}
threads = torch.get_num_threads()
home_writable = os.access(os.environ["HOME"], os.W_OK)
fonts = any(f.startswith("fontlist") for f in os.listdir(os.environ["MPLCONFIGDIR"]))
stdin = os.readlink('/proc/self/fd/0')
links = []  # every fd of every process but bwrap's init (1) and the runner (our parent)
for pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getppid())]:
    try:
        fds = os.listdir(f'/proc/{pid}/fd')
    except OSError:
        continue
    for fd in fds:
        try:
            links.append(os.readlink(f'/proc/{pid}/fd/{fd}'))
        except OSError:
            pass
"""
    out = runner.run(
        snippet, outputs=["uid", "cwd", "files", "env", "threads", "home_writable", "fonts", "stdin", "links"]
    )
    assert out["uid"] == 65534 and out["cwd"] == "/work"
    assert out["files"] == ["helper.py", "model.pth", "nb.ipynb"]
    assert out["env"]["OMP_NUM_THREADS"] == "1" and out["env"]["MKL_NUM_THREADS"] == "1"
    assert out["env"]["HOME"].startswith("/tmp/") and out["home_writable"] and out["fonts"]
    assert out["threads"] == 1
    # The protocol pipe is not inherited: the kernel's stdin is /dev/null, and no process but the
    # runner holds either end of the judge's pipes.
    assert out["stdin"] == "/dev/null"
    protocol = {f"pipe:[{os.fstat(f.fileno()).st_ino}]" for f in (runner.proc.stdin, runner.proc.stdout)}
    assert len(out["links"]) > 10 and not protocol & set(out["links"])


def test_student_files_are_writable_copies(runner):
    out = runner.run(
        "import os\nopen('model.pth', 'ab').write(b'!')\nsize = os.path.getsize('model.pth')\n"
        "try:\n    open('/submission/x', 'w')\n    ro = False\nexcept OSError:\n    ro = True",
        outputs=["size", "ro"],
    )
    assert out == {"size": 9, "ro": True}
    runner.run("open('model.pth', 'wb').write(b'ORIGINAL')")


# --- tests that restart or time out the kernel: a sandbox each -----------------------------------


def test_a_crash_restarts_the_kernel_with_definitions_replayed(runner_factory):
    r = runner_factory(
        [
            "import numpy as np\ndef double(a):\n    return a * 2\nK = 5",
            "for i in range(4):\n    LAST = i",  # a loop, not a definition: not replayed
        ],
        execution={"kernel_restarts": 2},
    )
    assert r.run("y = double(K) + LAST", outputs=["y"]) == {"y": 13}

    with pytest.raises(StudentCrashed) as info:
        r.run("import os\nos._exit(1)")
    assert info.value.restarted
    assert r.run("y = double(K)", outputs=["y"]) == {"y": 10}  # definitions replayed
    with pytest.raises(StudentException) as err:
        r.run("y = LAST", outputs=["y"])
    assert err.value.name == "NameError"

    # A kernel that ignores interrupts is restarted too, and the call is a timeout.
    t0 = time.monotonic()
    with pytest.raises(StudentTimeout) as info:
        r.run(
            "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass",
            timeout=1,
        )
    assert info.value.restarted and time.monotonic() - t0 < 30
    assert r.run("y = double(K)", outputs=["y"]) == {"y": 10}

    # The restart budget (2) is spent: the kernel stays down, every later call is a crash.
    with pytest.raises(StudentCrashed) as info:
        r.run("import os\nos._exit(1)")
    assert not info.value.restarted
    with pytest.raises(StudentCrashed):
        r.run("y = 1", outputs=["y"])
    assert r.client.violation is None  # the student's failures, not a protocol violation


def test_cell_and_notebook_timeouts(runner_factory):
    r = runner_factory(
        [
            "while True:\n    pass",  # interrupted at the cell timeout (4 s)
            "AFTER = 1",  # and the next cell runs
            "import time\ntime.sleep(2)",
            "time.sleep(60)",  # cut at the notebook's deadline (9 s): less than a cell timeout is left
            "LATE = 1",  # never started
        ],
        execution={"cell_timeout_s": 4, "notebook_timeout_s": 9},
    )
    cells = [(c["status"], c["error"]) for c in r.report["cells"]]
    assert cells[0] == ("timeout", "timed out after 4s"), r.report
    assert cells[1][0] == "ok" and cells[2][0] == "ok", r.report
    assert cells[3][0] == "timeout"
    assert cells[4] == ("not_run", "notebook time limit reached")
    assert r.report["timed_out"] and r.report["restarts"] == 0
    assert r.run("a = AFTER\nlate = 'LATE' in globals()", outputs=["a", "late"]) == {"a": 1, "late": False}


def test_definitions_mode(runner_factory):
    r = runner_factory(
        [
            "!pip install foo\nimport numpy as np\nimport torch\nimport torch.nn as nn",
            "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 1)\n"
            "    def forward(self, x):\n        return self.fc(x)\nmodel = Net()\nLR = 0.1",
            "opt = torch.optim.SGD(model.parameters(), lr=LR)\nwhile True:\n    opt.step()",  # never ends if run
            "torch.save(model.state_dict(), 'model.pth')",  # would overwrite the submitted file
            "model.fit(1)",
            "trained = True",
        ],
        mode="definitions",
        files={"model.pth": b"ORIGINAL"},
    )
    report = r.report
    assert report["mode"] == "definitions"
    assert [c["status"] for c in report["cells"]] == ["ok", "ok", "ok", "skipped", "skipped", "ok"]
    reasons = [(s["cell"], s["reason"]) for s in report["skipped"]]
    assert reasons == [
        (0, "shell command"),
        (2, "loop"),
        (3, "writes files (torch.save()); could overwrite submitted files"),
        (4, "training call (model.fit())"),
    ]
    out = r.run(
        "n = sum(p.numel() for p in model.parameters())\nlr = LR\nt = trained\n"
        "orig = open('model.pth', 'rb').read() == b'ORIGINAL'",
        outputs=["n", "lr", "t", "orig"],
    )
    assert out == {"n": 3, "lr": 0.1, "t": True, "orig": True}
    assert r.run("has = 'opt' in globals()", outputs=["has"]) == {"has": True}


def test_none_mode_runs_no_student_code(runner_factory):
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, buf)
    r = runner_factory(
        ["import os\nRAN = True\nopen('ran.txt', 'w').write('x')"],
        mode="none",
        files={"model.pth": buf.getvalue(), "numpy.py": b"raise SystemExit('student module ran')\n"},
    )
    assert [c["status"] for c in r.report["cells"]] == ["not_run"]
    out = r.run(
        "import os, torch\nran = os.path.exists('ran.txt') or 'RAN' in globals()\n"
        "sd = torch.load('model.pth', weights_only=True)\nshape = list(sd['w'].shape)",
        outputs=["ran", "shape"],
    )
    assert out == {"ran": False, "shape": [2, 3]}  # the student's numpy.py did not shadow numpy either
    with pytest.raises(StudentException) as info:
        r.run("import helper_that_is_not_there")
    assert info.value.name == "ModuleNotFoundError"


def test_a_broken_notebook_is_reported_not_fatal(runner_factory):
    r = runner_factory([], files={"nb.ipynb": b"{not json"})
    assert r.report["cells"] == [] and r.report["error"].startswith("could not read the notebook")
    assert r.run("y = 1", outputs=["y"]) == {"y": 1}
