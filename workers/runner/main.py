"""The runner: runs inside the sandbox, drives the student's kernel, answers the judge.

Conversation on the protocol pipe (see ``wire.py`` for the framing)::

  (a warm unit only: judge -> warm {max_files_bytes, preimport}
                     runner -> warmed      the kernel is up, numpy/torch imported; no job yet)
    judge -> start {notebook, mode, limits..., files?, env?}   a warm unit's files are blobs here
    runner -> hello {models?}            the kernel is up; no student code has run yet. blob 0: the
                                         model files' facts (the loader's JSON lines), if start named any
              (or fatal {message}: the runner could not start; an infrastructure failure)
    runner -> ready {report, notebook}   blob 0: the executed notebook (capped), if any
    judge -> run {id, code, inputs, outputs, timeout}   runner -> result {id, status, ...}
    ... until the judge closes the pipe.

Imports nothing from the grader: only the standard library, the runtime's packages and its siblings.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import THREAD_ENV, wire

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from .kernel import KernelSession

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
WARM_FIELDS: dict[str, type | tuple[type, ...]] = {"type": str, "max_files_bytes": int, "preimport": list}
# What a warm kernel imports before its job (those the runtime has): the slow imports of most notebooks.
PREIMPORT_ALLOWED = ("numpy", "torch", "torchvision")
# The job environment a start message may set (a warm unit's sandbox started before the job was known).
JOB_ENV_KEYS = ("GRADER_REPRODUCIBLE", "GRADER_SEED")
MAX_FILES = 1000
MAX_MODEL_FILES = 16
MAX_MODEL_FACTS_BYTES = 4 * 1024 * 1024  # the loader's lines (a state_dict's shapes are capped by the loader)


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


def check_warm(h: dict[str, Any]) -> None:
    for key, types in WARM_FIELDS.items():
        if key not in h or not isinstance(h[key], types) or isinstance(h[key], bool):
            raise ValueError(f"warm: bad or missing {key!r}")
    if h["type"] != "warm" or h["max_files_bytes"] < 0 or any(m not in PREIMPORT_ALLOWED for m in h["preimport"]):
        raise ValueError("warm: bad type, size or module")


def check_models(h: dict[str, Any]) -> list[str]:
    names, timeout = h.get("models", []), h.get("models_timeout_s", 60)
    if not isinstance(names, list) or len(names) > MAX_MODEL_FILES or type(timeout) not in (int, float) or timeout <= 0:
        raise ValueError("start: bad models")
    return [plain_relative(n) for n in names]


def check_job_env(env: Any) -> dict[str, str]:
    if not isinstance(env, dict) or any(k not in JOB_ENV_KEYS or not isinstance(v, str) for k, v in env.items()):
        raise ValueError("start: bad env")
    return dict(env)


def plain_relative(name: Any) -> str:
    """A file's path relative to the work dir, with no way out of it."""
    if not isinstance(name, str) or not name or len(name) > 1000 or "\\" in name or "\x00" in name:
        raise ValueError("start: bad file name")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("start: bad file name")
    return name


def check_files(files: Any, blob_count: int) -> list[tuple[str, int]]:
    """The start message's file list: plain relative names, each blob used once, in order."""
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise ValueError("start: bad files")
    out = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or set(f) != {"name", "blob"} or f["blob"] != i or type(f["blob"]) is not int:
            raise ValueError("start: bad file entry")
        out.append((plain_relative(f["name"]), i))
    if len(out) != blob_count or len({n for n, _ in out}) != len(out):
        raise ValueError("start: files and blobs do not match")
    return out


def write_files(files: list[tuple[str, int]], blobs: list[bytes], dst: Path) -> None:
    """A warm unit's files, from the start message into the work dir, as ``copy_submission`` leaves them."""
    dst.mkdir(parents=True, exist_ok=True)
    root = dst.resolve()
    for name, blob in files:
        target = dst / name
        if not target.resolve().is_relative_to(root) or target.is_symlink():
            raise ValueError("start: a file name leaves the work dir")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.write_bytes(blobs[blob])
        target.chmod(0o644)


def _paths() -> tuple[Path, Path, Path]:
    # The sandbox mounts; overridable only for development outside a sandbox.
    return (
        Path(os.environ.get("GRADER_RUNNER_SUBMISSION", "/submission")),
        Path(os.environ.get("GRADER_RUNNER_WORK", "/work")),
        Path(os.environ.get("GRADER_RUNNER_TMP", "/tmp")),
    )


def prepare_environment(tmp: Path) -> Path:
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
            **THREAD_ENV,
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
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


def preimport_code(modules: Sequence[str]) -> str:
    """Import what the runtime has of ``modules``, leaving no name in the student's namespace."""
    body = (
        "import importlib, importlib.util\n"
        f"for _m in {list(modules)!r}:\n"
        "    if importlib.util.find_spec(_m) is not None:\n"
        "        importlib.import_module(_m)\n"
    )
    return f"__import__('builtins').exec({body!r}, {{'__name__': '__grader_preimport__'}})"


async def boot_kernel(work: Path, tmp: Path, preimport: Sequence[str]) -> KernelSession:
    """Everything that is the same for every job: the homes, the kernel, the slow imports. No student file yet."""
    from .kernel import KernelSession, write_kernelspec

    kernels_dir = prepare_environment(tmp)
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    write_kernelspec(kernels_dir)
    kernel = KernelSession(
        work_dir=work, kernels_dir=kernels_dir, prelude=(Path(__file__).parent / "prelude.py").read_text(), log=log
    )
    t0 = time.monotonic()
    await kernel.start(STARTUP_TIMEOUT_S, prelude=False)
    if preimport:
        outcome = await kernel.run_silent(preimport_code(preimport), timeout=STARTUP_TIMEOUT_S, recover=False)
        if outcome.status != "ok":
            raise RuntimeError(f"the pre-imports failed in the kernel: {outcome.status} {outcome.error or ''}")
    log(f"kernel up in {time.monotonic() - t0:.2f}s")
    return kernel


def inspection_code(source: str, path: Path, out: Path) -> str:
    """The model loader (inspect_models.py's own text) run on one file in the kernel, in a namespace
    of its own, its result line appended to ``out``."""
    driver = (
        f"{source}\n"
        "import json as _json\n"
        f"with open({str(out)!r}, 'a') as _out:\n"
        f"    _out.write(_json.dumps(inspect_file({str(path)!r})) + '\\n')\n"
    )
    return f"__import__('builtins').exec({driver!r}, {{'__name__': '__grader_models__'}})"


async def inspect_models(
    kernel: KernelSession, names: Sequence[str], work: Path, tmp: Path, timeout_s: float, preimport: Sequence[str]
) -> bytes:
    """The model files' facts, established in this sandbox's kernel before any student code runs in it
    (the prelude has not even put the work dir on sys.path): the pre-check's loader and counting rule,
    one file at a time. A file that stops the loader (time, memory, a crash in torch) does not load;
    the kernel is then started afresh for the next file, and for the student."""
    source = (Path(__file__).parent / "inspect_models.py").read_text()
    folder = tmp / "grader-models"
    folder.mkdir(mode=0o700, exist_ok=True)
    out = folder / "facts.jsonl"
    for name in names:
        base = os.path.basename(name)
        with out.open("a") as f:
            f.write(json.dumps({"checking": base}) + "\n")
        before = out.stat().st_size
        outcome = await kernel.run_silent(inspection_code(source, work / name, out), timeout=timeout_s, recover=False)
        if outcome.status == "ok" and out.stat().st_size > before:
            continue
        why = {
            "timeout": f"it did not load within {timeout_s:g} s",
            "crashed": "loading it stopped the loader (out of memory, or a crash in torch)",
        }.get(outcome.status, f"the loader failed on it: {(outcome.error or '')[:200]}")
        entry = {"name": base, "loads": False, "kind": None, "parameters": None, "tensors": None, "error": why}
        with out.open("a") as f:
            f.write(json.dumps(entry) + "\n")
        if outcome.status in ("timeout", "crashed") or not kernel.available:
            log(f"model loader stopped on {base}: {outcome.status}; a fresh kernel")
            await kernel.shutdown()
            await kernel.start(STARTUP_TIMEOUT_S, prelude=False)
            if preimport:
                await kernel.run_silent(preimport_code(preimport), timeout=STARTUP_TIMEOUT_S, recover=False)
    with out.open("rb") as f:
        return f.read(MAX_MODEL_FACTS_BYTES)


async def begin_job(kernel: KernelSession, start: dict[str, Any], job_env: dict[str, str]) -> None:
    """The job's own settings into the kernel (and any restarted one), then the prelude."""
    kernel.configure(
        restarts=start["kernel_restarts"],
        interrupt_grace_s=start["interrupt_grace_s"],
        cell_timeout_s=start["cell_timeout_s"],
        replay_timeout_s=start["replay_timeout_s"],
        restart_timeout_s=start["restart_timeout_s"],
    )
    env = {"GRADER_ADD_CWD": "0" if start["mode"] == "none" else "1", **job_env}
    os.environ.update(env)
    await kernel.begin(env, STARTUP_TIMEOUT_S)


async def receive_job(proto_in: int, warm: dict[str, Any]) -> tuple[dict[str, Any], wire.Message]:
    """A warm unit waits, with no deadline (the judge decides how long), for its job's start message."""
    size = warm["max_files_bytes"]
    limits = wire.WireLimits(START_LIMITS.max_header, size, START_LIMITS.max_total + size)
    msg = wire.read_message(proto_in, limits)
    check_start(msg.header)
    return msg.header, msg


async def serve(first: dict[str, Any], proto_in: int, proto_out: int) -> int:
    from .calls import BadRequest, check_request, kernel_code, read_result, write_call
    from .notebook import capped_notebook_bytes, execute_notebook, fit_report

    def send(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> None:
        wire.write_message(proto_out, header, list(blobs))

    submission, work, tmp = _paths()
    warm = first["type"] == "warm"
    try:
        kernel = await boot_kernel(work, tmp, first["preimport"] if warm else [])
    except Exception as e:
        log("startup failed:\n" + traceback.format_exc())
        send({"type": "fatal", "message": f"{type(e).__name__}: {str(e)[:500]}"})
        return 1
    start, job_msg = first, None
    if warm:
        send({"type": "warmed"})
        try:
            start, job_msg = await receive_job(proto_in, first)
        except ValueError as e:
            log(f"no valid start message: {e}")
            return 2
    try:
        if job_msg is None:
            copy_submission(submission, work)
        else:
            write_files(check_files(start.get("files"), len(job_msg.blobs)), job_msg.blobs, work)
        models, facts = check_models(start), b""
        if models:
            preimport = first["preimport"] if warm else []
            facts = await inspect_models(kernel, models, work, tmp, start.get("models_timeout_s", 60), preimport)
        await begin_job(kernel, start, check_job_env(start.get("env", {})))
    except Exception as e:
        log("startup failed:\n" + traceback.format_exc())
        send({"type": "fatal", "message": f"{type(e).__name__}: {str(e)[:500]}"})
        return 1
    if models:  # the facts before any student code: the judge's models fixture answers from them
        send({"type": "hello", "protocol": PROTOCOL, "models": 0}, [facts])
    else:
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
    kernel.abandon()
    return 0


def main() -> int:
    proto_in, proto_out = take_protocol_fds()
    try:
        msg = wire.read_message(proto_in, START_LIMITS, deadline=time.monotonic() + 60)
        (check_warm if msg.header.get("type") == "warm" else check_start)(msg.header)
    except (wire.WireError, ValueError) as e:
        log(f"no valid start message: {e}")
        return 2
    try:
        return asyncio.run(serve(msg.header, proto_in, proto_out))
    except wire.WireError as e:  # the judge went away
        log(f"pipe closed: {e}")
        return 3
