"""Shared by the stand-in runners: the real framing, a clean start, and a run loop.

A stand-in folder holds ``boot.py`` (one of the fakes, renamed), this file and ``wire.py``.
"""

import io

import wire

LIMITS = wire.WireLimits(1 << 20, 64 << 20, 128 << 20)
REPORT = {
    "mode": "full",
    "cells": [{"index": 0, "status": "ok", "error": None, "duration_s": 0.01}],
    "skipped": [],
    "skipped_total": 0,
    "duration_s": 0.01,
    "restarts": 0,
    "timed_out": False,
    "error": None,
}


def npy(array) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def load(blob):
    import numpy as np

    return np.load(io.BytesIO(blob), allow_pickle=False)


def start(fin=0, fout=1):
    wire.read_message(fin, LIMITS)
    wire.write_message(fout, {"type": "hello", "protocol": 1})
    wire.write_message(fout, {"type": "ready", "report": REPORT, "notebook": None})


def requests(fin=0):
    while True:
        try:
            yield wire.read_message(fin, LIMITS)
        except wire.WireClosed:
            return


def reply_ok(call_id, values: dict, fout=1):
    outputs, blobs = {}, []
    for name, value in values.items():
        if hasattr(value, "dtype"):
            outputs[name] = {"kind": "npy", "blob": len(blobs)}
            blobs.append(npy(value))
        else:
            outputs[name] = {"kind": "json", "value": value}
    wire.write_message(fout, {"type": "result", "id": call_id, "status": "ok", "outputs": outputs}, blobs)
