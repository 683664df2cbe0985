"""The judge's end of the pipe to the runner. Everything that comes back is hostile.

Replies are checked against an exact schema (keys, types, the id of the request, exactly the
outputs asked for, every blob used once) and arrays are decoded strictly (``codec``). The first
thing that does not fit - garbage, an oversize message, a wrong id, a dead runner, a missed
deadline - is a ``ProtocolViolation``: the client is broken for good and every later call raises it.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from grader.settings import ExecutionLimits
from workers.runner import wire
from workers.sandbox.base import SandboxProcess

from .api import ProtocolViolation, StudentCrashed, StudentException, StudentTimeout
from .codec import DecodeError, decode_array, encode_input

MB = 1024 * 1024
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
HELLO_TIMEOUT_S = 180  # runner start + kernel start + torch import, before any student code
INTERRUPT_GRACE_S = 5.0  # after an interrupt, before the runner restarts the kernel
RESTART_TIMEOUT_S = 60.0  # a restarted kernel answering, and again its prelude
REPLY_MARGIN_S = 15.0
MODEL_FACTS_BYTES = 4 * MB  # == runner.main.MAX_MODEL_FACTS_BYTES
CELL_STATUSES = {"ok", "error", "timeout", "crashed", "skipped", "not_run"}


class InfrastructureError(Exception):
    """The runner failed before any student code ran: the service's fault, never the student's."""


def _str(value: Any, cap: int, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolViolation(f"{what} is not a string")
    return value[:cap]


def _num(value: Any, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ProtocolViolation(f"{what} is not a non-negative number")
    return float(value)


def _exact_keys(obj: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != keys:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ProtocolViolation(f"{what}: expected keys {sorted(keys)}, got {str(got)[:200]}")
    return obj


def check_report(report: Any, limits: ExecutionLimits) -> dict[str, Any]:
    """The runner's execution report, rebuilt field by field from what was checked."""
    r = _exact_keys(
        report, {"mode", "cells", "skipped", "skipped_total", "duration_s", "restarts", "timed_out", "error"}, "report"
    )
    if r["mode"] not in ("full", "definitions", "none"):
        raise ProtocolViolation("report: bad mode")
    if not isinstance(r["cells"], list) or len(r["cells"]) > limits.max_cells:
        raise ProtocolViolation("report: bad cells")
    if not isinstance(r["skipped"], list) or len(r["skipped"]) > 100_000:
        raise ProtocolViolation("report: bad skipped")
    cells = []
    for c in r["cells"]:
        _exact_keys(c, {"index", "status", "error", "duration_s"}, "report cell")
        if type(c["index"]) is not int or c["status"] not in CELL_STATUSES:
            raise ProtocolViolation("report cell: bad index or status")
        cells.append(
            {
                "index": c["index"],
                "status": c["status"],
                "duration_s": _num(c["duration_s"], "duration"),
                "error": None if c["error"] is None else _str(c["error"], 500, "cell error"),
            }
        )
    skipped = []
    for s in r["skipped"]:
        _exact_keys(s, {"cell", "line", "source", "reason"}, "report skip")
        if type(s["cell"]) is not int or type(s["line"]) is not int:
            raise ProtocolViolation("report skip: bad position")
        skipped.append(
            {
                "cell": s["cell"],
                "line": s["line"],
                "source": _str(s["source"], 200, "source"),
                "reason": _str(s["reason"], 200, "reason"),
            }
        )
    if type(r["restarts"]) is not int or type(r["skipped_total"]) is not int or not isinstance(r["timed_out"], bool):
        raise ProtocolViolation("report: bad restarts or timed_out")
    return {
        "mode": r["mode"],
        "cells": cells,
        "skipped": skipped,
        "skipped_total": r["skipped_total"],
        "duration_s": _num(r["duration_s"], "duration"),
        "restarts": r["restarts"],
        "timed_out": r["timed_out"],
        "error": None if r["error"] is None else _str(r["error"], 500, "error"),
    }


class StudentClient:
    """The ``student`` fixture: run snippets in the student's kernel through the runner."""

    def __init__(
        self, proc: SandboxProcess, limits: ExecutionLimits, on_violation: Callable[[str], None] | None = None
    ):
        self._proc = proc
        self.limits = limits
        self._in = proc.stdout  # from the runner
        self._out = proc.stdin  # to the runner
        self._next_id = 1
        self.violation: str | None = None
        self.report: dict[str, Any] | None = None
        self.notebook_bytes: bytes | None = None
        self.model_facts: bytes | None = None  # the model loader's lines, from hello (None: none came)
        self._on_violation = on_violation
        self.replay_timeout_s = min(limits.notebook_timeout_s, 120.0)
        # The longest a runner may take to recover a kernel (interrupt, restart, prelude, replay).
        self.recovery_s = INTERRUPT_GRACE_S + 2 * RESTART_TIMEOUT_S + self.replay_timeout_s
        self.reply_grace_s = self.recovery_s + REPLY_MARGIN_S  # a run's deadline: its timeout plus this
        self.wire_limits = wire.WireLimits(limits.max_header_bytes, limits.max_blob_mb * MB, limits.max_message_mb * MB)

    # --- breaking ---------------------------------------------------------------------------------

    def _violate(self, reason: str) -> ProtocolViolation:
        if self.violation is None:
            self.violation = reason[:1000]
            if self._on_violation:
                self._on_violation(self.violation)
        return ProtocolViolation(self.violation)

    def _check_usable(self) -> None:
        if self.violation is not None:
            raise ProtocolViolation(self.violation)

    def _read(self, deadline: float, limits: wire.WireLimits | None = None) -> wire.Message:
        try:
            return wire.read_message(self._in, limits or self.wire_limits, deadline)
        except wire.WireClosed:
            raise self._violate("the runner closed the pipe (dead runner)") from None
        except wire.WireTimeout:
            raise self._violate("the runner missed its deadline") from None
        except wire.WireError as e:
            raise self._violate(f"malformed message: {e}") from None

    def _send(self, header: dict[str, Any], blobs: list[bytes], deadline: float) -> None:
        try:
            wire.write_message(self._out, header, blobs, deadline)
        except wire.WireError as e:
            raise self._violate(f"could not send to the runner: {e}") from None

    # --- start ------------------------------------------------------------------------------------

    def start_message(self, notebook: str | None, mode: str) -> dict[str, Any]:
        lim = self.limits
        return {
            "type": "start",
            "notebook": notebook,
            "mode": mode,
            "cell_timeout_s": lim.cell_timeout_s,
            "notebook_timeout_s": lim.notebook_timeout_s,
            "output_bytes_per_cell": lim.output_bytes_per_cell,
            "kernel_restarts": lim.kernel_restarts,
            "max_cells": lim.max_cells,
            "max_header_bytes": lim.max_header_bytes,
            "max_blob_bytes": lim.max_blob_mb * MB,
            "max_message_bytes": lim.max_message_mb * MB,
            "max_report_bytes": lim.max_report_mb * MB,
            "interrupt_grace_s": INTERRUPT_GRACE_S,
            "replay_timeout_s": self.replay_timeout_s,
            "restart_timeout_s": RESTART_TIMEOUT_S,
        }

    def start(
        self,
        notebook: str | None,
        mode: str,
        hello_timeout_s: float = HELLO_TIMEOUT_S,
        *,
        files: list[tuple[str, bytes]] | None = None,
        env: dict[str, str] | None = None,
        models: list[str] | None = None,
        models_timeout_s: float = 60,
    ) -> dict[str, Any]:
        """Send ``start``; wait for ``hello`` then ``ready``. Returns the checked report.

        ``files`` (a warm unit, whose sandbox has no submission bound): the job's files, sent with
        ``start`` as blobs; ``env``: the job's own environment variables (``GRADER_REPRODUCIBLE``...);
        ``models``: files the runner inspects before any student code runs (``model_facts``, from ``hello``).
        Before ``hello`` no student code has run: a failure there is an ``InfrastructureError``.
        After it, any failure is the student side's: a ``ProtocolViolation``.
        """
        message = self.start_message(notebook, mode)
        blobs: list[bytes] = []
        if files is not None:
            message["files"] = [{"name": name, "blob": i} for i, (name, _) in enumerate(files)]
            blobs = [data for _, data in files]
        if env:
            message["env"] = dict(env)
        if models:
            message["models"], message["models_timeout_s"] = list(models), models_timeout_s
        try:
            wire.write_message(self._out, message, blobs, time.monotonic() + 30 + sum(map(len, blobs)) / MB)
            hello = wire.read_message(
                self._in,
                wire.WireLimits(64 * 1024, MODEL_FACTS_BYTES, 64 * 1024 + MODEL_FACTS_BYTES + 8),
                time.monotonic() + hello_timeout_s + (len(models or ()) * models_timeout_s),
            )
        except wire.WireError as e:
            raise InfrastructureError(f"the runner did not start: {e}") from None
        if hello.header.get("type") == "fatal":
            raise InfrastructureError(f"the runner could not start: {str(hello.header.get('message'))[:500]}")
        if hello.header == {"type": "hello", "protocol": 1, "models": 0} and len(hello.blobs) == 1 and models:
            self.model_facts = hello.blobs[0]  # sent before any student code ran: trusted as the loader's
        elif hello.header != {"type": "hello", "protocol": 1} or hello.blobs:
            raise InfrastructureError("the runner's first message was not hello")

        lim = self.limits
        # Every cell may time out, the last ones after the notebook deadline, each with one recovery.
        deadline = (
            time.monotonic()
            + lim.notebook_timeout_s
            + lim.cell_timeout_s
            + (lim.kernel_restarts + 1) * (self.recovery_s + 10)
            + REPLY_MARGIN_S
        )
        ready_limits = wire.WireLimits(
            lim.max_header_bytes, lim.max_report_mb * MB, lim.max_header_bytes + lim.max_report_mb * MB + 8
        )
        msg = self._read(deadline, ready_limits)
        h = msg.header
        if set(h) != {"type", "report", "notebook"} or h["type"] != "ready":
            raise self._violate("expected a ready message")
        try:
            report = check_report(h["report"], lim)
        except ProtocolViolation as e:
            raise self._violate(str(e)) from None
        if h["notebook"] is None and not msg.blobs:
            nb = None
        elif h["notebook"] == 0 and len(msg.blobs) == 1:
            nb = msg.blobs[0]
            try:
                parsed = json.loads(nb)
            except (ValueError, RecursionError):
                raise self._violate("the executed notebook is not JSON") from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("cells"), list):
                raise self._violate("the executed notebook is not a notebook")
        else:
            raise self._violate("ready: notebook and blobs do not match")
        self.report, self.notebook_bytes = report, nb
        return report

    # --- run --------------------------------------------------------------------------------------

    def run(
        self,
        code: str,
        inputs: dict[str, Any] | None = None,
        outputs: str | Iterable[str] = (),
        timeout: float | None = None,
    ) -> dict[str, Any]:
        self._check_usable()
        if not isinstance(code, str):
            raise TypeError("code must be a str")
        if isinstance(outputs, str):
            outputs = (outputs,)
        outputs = list(outputs)
        for name in [*outputs, *(inputs or {})]:
            if not isinstance(name, str) or not IDENT.match(name):
                raise ValueError(f"{name!r} is not a valid input/output name")
        if len(set(outputs)) != len(outputs):
            raise ValueError("duplicate output names")
        timeout = float(self.limits.test_call_timeout_s if timeout is None else timeout)
        if not 0 < timeout <= 86400:
            raise ValueError("timeout must be positive")

        blobs: list[bytes] = []
        wire_inputs: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            kind, payload = encode_input(value)
            if kind == "npy":
                if len(payload) > self.wire_limits.max_blob:
                    raise ValueError(f"input {name!r} is over the blob limit")
                wire_inputs[name] = {"kind": "npy", "blob": len(blobs)}
                blobs.append(payload)
            else:
                wire_inputs[name] = {"kind": "json", "value": payload}

        call_id = self._next_id
        self._next_id += 1
        header = {
            "type": "run",
            "id": call_id,
            "code": code,
            "inputs": wire_inputs,
            "outputs": outputs,
            "timeout": timeout,
        }
        self._send(header, blobs, time.monotonic() + 60)
        # The runner may interrupt, restart and replay before it answers.
        deadline = time.monotonic() + timeout + self.reply_grace_s
        msg = self._read(deadline)
        return self._check_result(msg, call_id, outputs, timeout)

    def _check_result(self, msg: wire.Message, call_id: int, outputs: list[str], timeout: float) -> dict[str, Any]:
        h, blobs = msg.header, msg.blobs
        if h.get("type") != "result" or h.get("id") != call_id or type(h.get("id")) is not int:
            raise self._violate("reply is not the result of this request")
        status = h.get("status")
        if status == "ok":
            if set(h) != {"type", "id", "status", "outputs"}:
                raise self._violate("result: unexpected keys")
            got = h["outputs"]
            if not isinstance(got, dict) or set(got) != set(outputs):
                raise self._violate("result: outputs are not exactly the names asked for")
            values: dict[str, Any] = {}
            used: list[int] = []
            for name in outputs:
                item = got[name]
                if isinstance(item, dict) and set(item) == {"kind", "value"} and item["kind"] == "json":
                    values[name] = item["value"]
                elif (
                    isinstance(item, dict)
                    and set(item) == {"kind", "blob"}
                    and item["kind"] == "npy"
                    and type(item["blob"]) is int
                    and 0 <= item["blob"] < len(blobs)
                ):
                    used.append(item["blob"])
                    try:
                        values[name] = decode_array(blobs[item["blob"]], self.wire_limits.max_blob)
                    except DecodeError as e:
                        raise self._violate(f"output {name!r}: {e}") from None
                else:
                    raise self._violate(f"output {name!r}: malformed")
            if sorted(used) != list(range(len(blobs))):
                raise self._violate("result: blobs do not match the outputs")
            return values
        if blobs:
            raise self._violate("result: unexpected blobs")
        if status == "error" and set(h) == {"type", "id", "status", "error"}:
            err = h["error"]
            if (
                isinstance(err, dict)
                and set(err) == {"name", "message"}
                and isinstance(err["name"], str)
                and IDENT.match(err["name"])
                and isinstance(err["message"], str)
                and len(err["message"]) <= 2000
            ):
                raise StudentException(err["name"], err["message"])
            raise self._violate("result: malformed error")
        if (
            status in ("timeout", "crashed")
            and set(h) == {"type", "id", "status", "restarted"}
            and isinstance(h["restarted"], bool)
        ):
            if status == "timeout":
                raise StudentTimeout(timeout, h["restarted"])
            raise StudentCrashed("the kernel died" + ("; it was restarted" if h["restarted"] else ""), h["restarted"])
        raise self._violate("result: unknown status or keys")

    # --- end --------------------------------------------------------------------------------------

    def close(self) -> None:
        """End of the conversation: the runner sees end of pipe and shuts its kernel down."""
        try:
            self._out.close()
        except OSError:
            pass
