"""The in-sandbox runner. Only this folder is bound into the sandbox (at ``/opt/grader/runner``).

Nothing here may import the grader or the rest of ``workers``: inside the sandbox there is only
the course runtime, the standard library and these files. The judge imports ``wire`` from here.
"""

RUNNER_MOUNT = "/opt/grader/runner"  # == workers.sandbox.base.RUNNER_MOUNT (checked by a test)
RUNTIME_PYTHON = "/opt/grader/runtime/bin/python"

# The command the sandbox runs. -I: no cwd, user site or PYTHON* variables on the path; the boot
# script loads this folder as the package ``runner`` by file location. -B: the mount is read-only.
RUNNER_ARGV = [RUNTIME_PYTHON, "-I", "-B", f"{RUNNER_MOUNT}/boot.py"]

# One thread per numeric library in the student zone (set by the runner; the template imports under it too).
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

# What the judge copies into the job's runner dir (and nothing else: no caches, no tests).
RUNNER_FILES = (
    "__init__.py",
    "boot.py",
    "wire.py",
    "main.py",
    "kernel.py",
    "notebook.py",
    "definitions.py",
    "calls.py",
    "prelude.py",
    "inspect_models.py",
    "zygote.py",
    "forked_kernel.py",
)

# The pre-check's command: reads model files (torch.load weights-only; TorchScript unloaded), no student code.
INSPECT_ARGV = [RUNTIME_PYTHON, "-I", "-B", f"{RUNNER_MOUNT}/inspect_models.py"]
