"""The runner: runs inside the sandbox, drives the student's kernel, answers the judge.

Conversation on the protocol pipe (see ``wire.py`` for the framing)::

    judge -> start {notebook, mode, limits...}
    runner -> hello                      the kernel is up; no student code has run yet
              (or fatal {message}: the runner could not start; an infrastructure failure)
    runner -> ready {report, notebook}   blob 0: the executed notebook (capped), if any
    judge -> run {id, code, inputs, outputs, timeout}   runner -> result {id, status, ...}
    ... until the judge closes the pipe.

Imports nothing from the grader: only the standard library, the runtime's packages and its siblings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from nbformat import NotebookNode

PROTOCOL = 1
MODES = ("full", "definitions", "none")
START_FIELDS: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "notebook": (str, type(None)),
    "mode": str,
    "cell_timeout_s": (int, float),
    "notebook_timeout_s": (int, float),
    "output_bytes_per_cell": int,
    "kernel_restarts": int,
    "max_cells": int,
    "max_header_bytes": int,
    "max_blob_bytes": int,
    "max_message_bytes": int,
    "max_report_bytes": int,
    "interrupt_grace_s": (int, float),
    "replay_timeout_s": (int, float),
    "restart_timeout_s": (int, float),
}
START_LIMITS = wire.WireLimits(max_header=64 * 1024, max_blob=0, max_total=64 * 1024 + 8)
STARTUP_TIMEOUT_S = 120


def log(*args: Any) -> None:
    print("runner:", *args, file=sys.stderr, flush=True)


def take_protocol_fds() -> tuple[int, int]:
    """Move the protocol pipe to private, non-inheritable fds; 0 <- /dev/null, 1 -> the log.

    The kernel and anything the student starts inherit fds 0-2 only, so they never see the pipe.
    """
    proto_in, proto_out = os.dup(0), os.dup(1)  # os.dup() fds are non-inheritable
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return proto_in, proto_out


def check_start(h: dict[str, Any]) -> None:
    for key, types in START_FIELDS.items():
        if key not in h or not isinstance(h[key], types) or isinstance(h[key], bool):
            raise ValueError(f"start: bad or missing {key!r}")
    if h["type"] != "start" or h["mode"] not in MODES:
        raise ValueError("start: bad type or mode")
    if h["notebook"] is not None and (os.sep in h["notebook"] or h["notebook"] in ("", ".", "..")):
        raise ValueError("start: the notebook must be a plain file name")


def _paths() -> tuple[Path, Path, Path]:
    # The sandbox mounts; overridable only for development outside a sandbox.
    return (
        Path(os.environ.get("GRADER_RUNNER_SUBMISSION", "/submission")),
        Path(os.environ.get("GRADER_RUNNER_WORK", "/work")),
        Path(os.environ.get("GRADER_RUNNER_TMP", "/tmp")),
    )


def prepare_environment(mode: str, tmp: Path) -> Path:
    """Writable homes under /tmp, the prebuilt font cache, one thread per library. Returns the kernels dir."""
    home = tmp / "grader-home"
    env = {
        "HOME": home,
        "IPYTHONDIR": home / ".ipython",
        "MPLCONFIGDIR": home / ".config" / "matplotlib",
        "JUPYTER_CONFIG_DIR": home / ".jupyter",
        "JUPYTER_DATA_DIR": home / ".local" / "share" / "jupyter",
        "JUPYTER_RUNTIME_DIR": home / ".local" / "share" / "jupyter" / "runtime",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_CONFIG_HOME": home / ".config",
        "TORCH_HOME": home / ".cache" / "torch",
        "TMPDIR": tmp,
    }
    for path in env.values():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.update({k: str(v) for k, v in env.items()})
    os.environ.update(
        {
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1",
            "VECLIB_MAXIMUM_THREADS": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "GRADER_ADD_CWD": "0" if mode == "none" else "1",
            "GRADER_CUDA_FALLBACK": "1",
        }
    )
    fonts = Path(sys.prefix) / "mplconfig"  # built with the runtime: matplotlib's first import stays fast
    if fonts.is_dir():
        shutil.copytree(fonts, env["MPLCONFIGDIR"], dirs_exist_ok=True)
    return home / "kernels"


def copy_submission(src: Path, dst: Path) -> None:
    """The student's files into the writable work dir, writable by the student."""
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_symlink():
            continue  # links point at host paths; nothing to copy
        if entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(entry, target)
    for root, dirs, files in os.walk(dst):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def load_notebook(path: Path | None) -> tuple[NotebookNode, str | None]:
    import nbformat

    if path is None:
        return nbformat.v4.new_notebook(), None
    try:
        return nbformat.read(path, as_version=4), None
    except Exception as e:
        return nbformat.v4.new_notebook(), f"could not read the notebook: {type(e).__name__}: {str(e)[:200]}"


async def serve(start: dict[str, Any], proto_in: int, proto_out: int) -> int:
    from .calls import BadRequest, check_request, kernel_code, read_result, write_call
    from .kernel import KernelSession, write_kernelspec
    from .notebook import capped_notebook_bytes, execute_notebook, fit_report

    def send(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> None:
        wire.write_message(proto_out, header, list(blobs))

    submission, work, tmp = _paths()
    try:
        kernels_dir = prepare_environment(start["mode"], tmp)
        copy_submission(submission, work)
        os.chdir(work)
        write_kernelspec(kernels_dir)
        prelude = (Path(__file__).parent / "prelude.py").read_text()
        kernel = KernelSession(
            work_dir=work,
            kernels_dir=kernels_dir,
            prelude=prelude,
            restarts=start["kernel_restarts"],
            interrupt_grace_s=start["interrupt_grace_s"],
            cell_timeout_s=start["cell_timeout_s"],
            replay_timeout_s=start["replay_timeout_s"],
            restart_timeout_s=start["restart_timeout_s"],
            log=log,
        )
        t0 = time.monotonic()
        await kernel.start(STARTUP_TIMEOUT_S)
        log(f"kernel up in {time.monotonic() - t0:.2f}s")
    except Exception as e:
        log("startup failed:\n" + traceback.format_exc())
        send({"type": "fatal", "message": f"{type(e).__name__}: {str(e)[:500]}"})
        return 1
    send({"type": "hello", "protocol": PROTOCOL})

    nb, nb_error = load_notebook(work / start["notebook"] if start["notebook"] else None)
    report = await execute_notebook(
        nb,
        kernel,
        mode=start["mode"] if not nb_error else "none",
        cell_timeout_s=start["cell_timeout_s"],
        notebook_timeout_s=start["notebook_timeout_s"],
        output_bytes_per_cell=start["output_bytes_per_cell"],
        max_cells=start["max_cells"],
    )
    report["mode"] = start["mode"]
    report["error"] = report["error"] or nb_error
    fit_report(report, start["max_header_bytes"] - 4096)
    nb_bytes = capped_notebook_bytes(nb, start["max_report_bytes"]) if start["notebook"] else None
    send({"type": "ready", "report": report, "notebook": 0 if nb_bytes else None}, [nb_bytes] if nb_bytes else [])
    log(f"notebook done in {report['duration_s']}s; serving")

    limits = wire.WireLimits(start["max_header_bytes"], start["max_blob_bytes"], start["max_message_bytes"])
    io_root = tmp / "grader-io"
    io_root.mkdir(mode=0o700, exist_ok=True)
    while True:
        try:
            msg = wire.read_message(proto_in, limits)
        except wire.WireClosed:
            break
        except wire.WireError as e:
            log(f"bad request from the judge: {e}")
            break
        h = msg.header
        try:
            check_request(h, len(msg.blobs))
        except BadRequest as e:
            send(
                {
                    "type": "result",
                    "id": h.get("id") if type(h.get("id")) is int else -1,
                    "status": "error",
                    "error": {"name": "GraderBadRequest", "message": str(e)[:500]},
                }
            )
            continue
        io_dir = io_root / str(h["id"])
        write_call(io_dir, h, msg.blobs)
        outcome = await kernel.run_silent(kernel_code(io_dir), timeout=float(h["timeout"]))
        if outcome.status == "ok":
            reply, blobs = read_result(
                io_dir,
                h["id"],
                h["outputs"],
                max_json=start["max_header_bytes"] - 4096,
                max_blob=start["max_blob_bytes"],
                max_total=start["max_message_bytes"] - 65536,
            )
        elif outcome.status == "error":  # the call wrapper itself failed: the namespace was interfered with
            reply, blobs = (
                {
                    "type": "result",
                    "id": h["id"],
                    "status": "error",
                    "error": {"name": "RuntimeError", "message": (outcome.error or "")[:500]},
                },
                [],
            )
        else:
            reply, blobs = (
                {"type": "result", "id": h["id"], "status": outcome.status, "restarted": outcome.restarted},
                [],
            )
        shutil.rmtree(io_dir, ignore_errors=True)
        send(reply, blobs)
    await kernel.shutdown()
    return 0


def main() -> int:
    proto_in, proto_out = take_protocol_fds()
    try:
        msg = wire.read_message(proto_in, START_LIMITS, deadline=time.monotonic() + 60)
        check_start(msg.header)
    except (wire.WireError, ValueError) as e:
        log(f"no valid start message: {e}")
        return 2
    try:
        return asyncio.run(serve(msg.header, proto_in, proto_out))
    except wire.WireError as e:  # the judge went away
        log(f"pipe closed: {e}")
        return 3
