"""The judge's client against a scripted runner on real pipes: strict schema, broken for good on a violation."""

from __future__ import annotations

import io
import os
import threading
import time

import numpy as np
import pytest

from grader.settings import ExecutionLimits
from workers.judge.api import ProtocolViolation, StudentCrashed, StudentException, StudentTimeout
from workers.judge.client import InfrastructureError, StudentClient
from workers.runner import wire

READ = wire.WireLimits(1 << 20, 1 << 26, 1 << 27)
REPORT = {
    "mode": "full",
    "cells": [{"index": 0, "status": "ok", "error": None, "duration_s": 0.1}],
    "skipped": [{"cell": 0, "line": 1, "source": "!pip install x", "reason": "shell command"}],
    "skipped_total": 1,
    "duration_s": 0.2,
    "restarts": 0,
    "timed_out": False,
    "error": None,
}


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


class FakeProc:
    """A SandboxProcess whose runner is a thread running ``script(runner)``."""

    def __init__(self, script):
        to_runner_r, to_runner_w = os.pipe()
        from_runner_r, from_runner_w = os.pipe()
        self.stdin = os.fdopen(to_runner_w, "wb", buffering=0)
        self.stdout = os.fdopen(from_runner_r, "rb", buffering=0)
        self.rin, self.rout = to_runner_r, from_runner_w
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        try:
            script(self)
        except (wire.WireError, OSError):
            pass
        finally:
            for fd in (self.rin, self.rout):
                try:
                    os.close(fd)
                except OSError:
                    pass

    # the runner's side
    def recv(self) -> wire.Message:
        return wire.read_message(self.rin, READ, time.monotonic() + 10)

    def send(self, header, blobs=()):
        wire.write_message(self.rout, header, list(blobs))

    def raw(self, data: bytes):
        os.write(self.rout, data)

    def startup(self, report=REPORT):
        assert self.recv().header["type"] == "start"
        self.send({"type": "hello", "protocol": 1})
        self.send({"type": "ready", "report": report, "notebook": None})


def limits(**kw) -> ExecutionLimits:
    return ExecutionLimits(
        **{"test_call_timeout_s": 2, "notebook_timeout_s": 5, "max_blob_mb": 1, "max_message_mb": 2, **kw}
    )


def client_for(script, **kw) -> StudentClient:
    client = StudentClient(FakeProc(script), limits(**kw))
    client.reply_grace_s = 0.5  # the fake never restarts anything: keep deadlines short
    return client


def serve(*replies):
    """A runner that starts cleanly, then answers each run with the next reply function."""

    def script(r: FakeProc):
        r.startup()
        for reply in replies:
            msg = r.recv()
            reply(r, msg.header)
        time.sleep(5)

    return script


def ok(outputs, blobs=()):
    return lambda r, h: r.send({"type": "result", "id": h["id"], "status": "ok", "outputs": outputs}, blobs)


def started(script, **kw) -> StudentClient:
    client = client_for(script, **kw)
    client.start("nb.ipynb", "full")
    return client


# --- good replies ---------------------------------------------------------------------------------


def test_values_come_back_checked():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    c = started(serve(ok({"y": {"kind": "npy", "blob": 0}, "n": {"kind": "json", "value": [1, "a"]}}, [npy(arr)])))
    assert c.report["skipped"][0]["reason"] == "shell command"
    out = c.run("y = f(x)", inputs={"x": np.ones(3)}, outputs=["y", "n"])
    assert np.array_equal(out["y"], arr) and out["n"] == [1, "a"]


def test_request_carries_inputs_as_npy_and_json():
    seen = {}

    def script(r):
        r.startup()
        msg = r.recv()
        seen.update(header=msg.header, blobs=msg.blobs)
        r.send({"type": "result", "id": msg.header["id"], "status": "ok", "outputs": {}})

    c = started(script)
    c.run("pass", inputs={"a": np.arange(3), "k": {"x": 1}}, timeout=1.5)
    h = seen["header"]
    assert h["inputs"] == {"a": {"kind": "npy", "blob": 0}, "k": {"kind": "json", "value": {"x": 1}}}
    assert h["timeout"] == 1.5 and h["outputs"] == [] and h["id"] == 1
    assert np.array_equal(np.load(io.BytesIO(seen["blobs"][0]), allow_pickle=False), np.arange(3))


@pytest.mark.parametrize(
    "reply, exc",
    [
        ({"status": "error", "error": {"name": "ZeroDivisionError", "message": "division by zero"}}, StudentException),
        ({"status": "timeout", "restarted": True}, StudentTimeout),
        ({"status": "crashed", "restarted": False}, StudentCrashed),
    ],
)
def test_student_side_failures_are_not_violations(reply, exc):
    c = started(serve(lambda r, h: r.send({"type": "result", "id": h["id"], **reply}), ok({})))
    with pytest.raises(exc):
        c.run("x")
    assert c.violation is None
    assert c.run("y") == {}  # and the next call works


# --- violations -------------------------------------------------------------------------------------


def result(h, **kw):
    return {"type": "result", "id": h["id"], "status": "ok", **kw}


HOSTILE = {
    "wrong id": lambda r, h: r.send({**result(h, outputs={"y": {"kind": "json", "value": 1}}), "id": h["id"] + 1}),
    "missing output": lambda r, h: r.send(result(h, outputs={})),
    "extra output": lambda r, h: r.send(
        result(h, outputs={"y": {"kind": "json", "value": 1}, "z": {"kind": "json", "value": 2}})
    ),
    "extra key": lambda r, h: r.send(result(h, outputs={"y": {"kind": "json", "value": 1}}, verdict="passed")),
    "forged passed status": lambda r, h: r.send({"type": "result", "id": h["id"], "status": "passed"}),
    "pickled npy": lambda r, h: r.send(
        result(h, outputs={"y": {"kind": "npy", "blob": 0}}), [npy(np.array([object()], dtype=object))]
    ),
    "structured npy": lambda r, h: r.send(
        result(h, outputs={"y": {"kind": "npy", "blob": 0}}), [npy(np.zeros(2, dtype=[("a", "i4")]))]
    ),
    "blob index out of range": lambda r, h: r.send(
        result(h, outputs={"y": {"kind": "npy", "blob": 3}}), [npy(np.ones(1))]
    ),
    "unused blob": lambda r, h: r.send(result(h, outputs={"y": {"kind": "json", "value": 1}}), [b"junk"]),
    "garbage": lambda r, h: r.raw(b"2 passed, 0 failed\n" * 10),
    "oversize blob": lambda r, h: r.raw(
        wire.encode_message(result(h, outputs={})).replace(b'"blobs":[]', b'"blobs":[99999999]')
    ),
    "bad error name": lambda r, h: r.send(
        {"type": "result", "id": h["id"], "status": "error", "error": {"name": "x\n2 passed", "message": ""}}
    ),
    "error with blobs": lambda r, h: r.send(
        {"type": "result", "id": h["id"], "status": "error", "error": {"name": "E", "message": ""}}, [b"x"]
    ),
    "timeout without restarted": lambda r, h: r.send({"type": "result", "id": h["id"], "status": "timeout"}),
    "dead runner": lambda r, h: os.close(r.rout),
    "silence": lambda r, h: time.sleep(10),
}


@pytest.mark.parametrize("behaviour", sorted(HOSTILE))
def test_hostile_reply_breaks_the_client_for_good(behaviour):
    seen = []
    c = client_for(serve(HOSTILE[behaviour], ok({"y": {"kind": "json", "value": 1}})))
    c._on_violation = seen.append
    c.start("nb.ipynb", "full")
    t0 = time.monotonic()
    with pytest.raises(ProtocolViolation):
        c.run("y = 1", outputs=["y"], timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert c.violation and seen == [c.violation]
    with pytest.raises(ProtocolViolation):  # even though the runner would now answer correctly
        c.run("y = 1", outputs=["y"])


# --- start ------------------------------------------------------------------------------------------


def test_fatal_before_hello_is_infrastructure():
    def script(r):
        r.recv()
        r.send({"type": "fatal", "message": "kernel did not start"})

    with pytest.raises(InfrastructureError, match="kernel did not start"):
        client_for(script).start("nb.ipynb", "full")


def test_dead_runner_before_hello_is_infrastructure():
    with pytest.raises(InfrastructureError):
        client_for(lambda r: r.recv()).start("nb.ipynb", "full")


@pytest.mark.parametrize(
    "ready",
    [
        {"type": "ready", "report": {**REPORT, "verdict": "pass"}, "notebook": None},
        {
            "type": "ready",
            "report": {**REPORT, "cells": [{"index": 0, "status": "passed", "error": None, "duration_s": 1}]},
            "notebook": None,
        },
        {"type": "ready", "report": {**REPORT, "duration_s": float("inf")}, "notebook": None},
        {"type": "ready", "report": REPORT, "notebook": 0},  # no blob
        {"type": "result", "id": 1, "status": "ok", "outputs": {}},
    ],
)
def test_bad_ready_after_hello_is_a_violation(ready):
    def script(r):
        r.recv()
        r.send({"type": "hello", "protocol": 1})
        r.send(ready)

    c = client_for(script)
    with pytest.raises(ProtocolViolation):
        c.start("nb.ipynb", "full")
    assert c.violation


def test_executed_notebook_must_be_json():
    def script(r):
        r.recv()
        r.send({"type": "hello", "protocol": 1})
        r.send({"type": "ready", "report": REPORT, "notebook": 0}, [b"\x80not json"])

    with pytest.raises(ProtocolViolation, match="not JSON"):
        client_for(script).start("nb.ipynb", "full")


def test_report_strings_are_capped():
    long = {**REPORT, "cells": [{"index": 0, "status": "error", "error": "E" * 10_000, "duration_s": 0.1}]}
    c = client_for(lambda r: (r.startup(long), time.sleep(1)))
    assert len(c.start("nb.ipynb", "full")["cells"][0]["error"]) == 500


# --- the test author's mistakes are not violations -------------------------------------------------


def test_bad_arguments_raise_before_sending():
    c = started(serve(ok({})))
    with pytest.raises(ValueError):
        c.run("x", outputs=["not-an-identifier"])
    with pytest.raises(TypeError):
        c.run("x", inputs={"o": object()})
    with pytest.raises(ValueError):
        c.run("x", outputs=["a", "a"])
    assert c.violation is None and c.run("x") == {}
