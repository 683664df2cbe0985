"""Run INSIDE the student's kernel before any of the student's code, in a private namespace.

Not imported by the runner: the runner sends this file's text to the kernel. The runner sets
``GRADER_ADD_CWD`` (``1``: put the work dir on ``sys.path``, as Jupyter does, so the student's own
modules import; ``0`` in ``none`` mode, where no student code may run) and ``GRADER_CUDA_FALLBACK``.
The judge may add ``GRADER_REPRODUCIBLE=1`` with ``GRADER_SEED`` (the rubric asks for reproducible
runs: seed random, numpy and torch, CPU and CUDA, and make torch deterministic) and, in gpu jobs,
``GRADER_GPU_MEMORY_FRACTION`` (a courtesy cap on torch's allocator; student code can lift it).

The CUDA fallback: real submissions are often written on Colab and hard-code the GPU
(``torch.device('cuda')``, ``.cuda()``, ``.to('cuda')``, ``torch.load`` of GPU tensors). When
this kernel has no GPU, those requests are mapped to the CPU instead of failing. With a GPU,
nothing is patched.

The annotations are never evaluated in the kernel (``from __future__ import annotations``); torch
is ``Any`` here, as the runtime's torch is not the one mypy sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any


def _grader_prelude() -> None:
    import os
    import sys

    if os.environ.get("GRADER_ADD_CWD") == "1" and "" not in sys.path:
        # Like IPython: after the standard library, before site-packages.
        at = next((i for i, p in enumerate(sys.path) if p.endswith(("site-packages", "dist-packages"))), len(sys.path))
        sys.path.insert(at, "")

    hooks: dict[str, Callable[[Any], object]] = {}  # module name -> what to do with it once imported
    torch_steps: list[Callable[[Any], object]] = []
    if os.environ.get("GRADER_CUDA_FALLBACK") == "1":
        torch_steps.append(_patch_torch)
    fraction = os.environ.get("GRADER_GPU_MEMORY_FRACTION")
    if fraction:
        torch_steps.append(lambda torch: _memory_fraction(torch, float(fraction)))
    if os.environ.get("GRADER_REPRODUCIBLE") == "1":
        import random

        seed = int(os.environ.get("GRADER_SEED") or 0)
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # read when cuBLAS starts: deterministic matmuls
        random.seed(seed)
        hooks["numpy"] = lambda np: np.random.seed(seed % 2**32)
        torch_steps.append(lambda torch: _seed_torch(torch, seed))
    if torch_steps:
        hooks["torch"] = lambda torch: [step(torch) for step in torch_steps]
    for name, hook in list(hooks.items()):
        if name in sys.modules:
            hook(sys.modules[name])
            del hooks[name]
    if not hooks:
        return

    from importlib.machinery import PathFinder

    class ImportHook:
        # Act right after a module's first import, so notebooks without torch never pay for it.
        def find_spec(
            self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
        ) -> ModuleSpec | None:
            hook = hooks.pop(name, None)
            if hook is None:
                return None
            if not hooks and self in sys.meta_path:
                sys.meta_path.remove(self)
            spec = PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            real_exec = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                real_exec(module)
                hook(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this one module's loader only
            return spec

    sys.meta_path.insert(0, ImportHook())


def _seed_torch(torch: Any, seed: int) -> None:
    torch.manual_seed(seed)  # every device, CUDA included
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _memory_fraction(torch: Any, fraction: float) -> None:
    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(fraction)


def _patch_torch(torch: Any) -> None:
    if torch.cuda.is_available():
        return

    import functools

    real_device = torch.device

    def cpu_if_cuda(d: object) -> object:
        if isinstance(d, str) and d.strip().lower().startswith("cuda"):
            return "cpu"
        if isinstance(d, real_device) and d.type == "cuda":
            return real_device("cpu")
        if isinstance(d, int) and not isinstance(d, bool):
            return "cpu"  # .to(0) / .cuda(0) mean GPU 0
        return d

    class _DeviceMeta(type):
        # torch.device cannot be subclassed: stand in for it, but keep isinstance() truthful.
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str) and args[0].strip().lower().startswith("cuda"):
                return real_device("cpu")
            if str(kwargs.get("type", "")).lower().startswith("cuda"):
                return real_device("cpu")
            return real_device(*args, **kwargs)

        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, real_device)

        def __subclasscheck__(cls, sub: type) -> bool:
            return issubclass(sub, real_device)

    class device(metaclass=_DeviceMeta):
        __doc__ = real_device.__doc__

    torch.device = device

    def _to(real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def to(self: Any, *args: Any, **kwargs: Any) -> Any:
            args = tuple(cpu_if_cuda(a) for a in args)
            if "device" in kwargs:
                kwargs["device"] = cpu_if_cuda(kwargs["device"])
            return real(self, *args, **kwargs)

        return to

    def _same(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self

    torch.Tensor.to = _to(torch.Tensor.to)
    torch.Tensor.cuda = _same
    torch.nn.Module.to = _to(torch.nn.Module.to)
    torch.nn.Module.cuda = _same

    def _factory(real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def make(*args: Any, **kwargs: Any) -> Any:
            if "device" in kwargs:
                kwargs["device"] = cpu_if_cuda(kwargs["device"])
            return real(*args, **kwargs)

        return make

    for name in (
        "tensor",
        "as_tensor",
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "randperm",
        "arange",
        "linspace",
        "logspace",
        "eye",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
        "normal",
    ):
        if hasattr(torch, name):
            setattr(torch, name, _factory(getattr(torch, name)))

    real_load = torch.load

    @functools.wraps(real_load)
    def load(*args: Any, **kwargs: Any) -> Any:
        location = kwargs.get("map_location")
        if location is None or isinstance(location, (str, real_device, int)):
            kwargs["map_location"] = "cpu" if location is None else cpu_if_cuda(location)
        elif isinstance(location, dict):
            kwargs["map_location"] = {k: cpu_if_cuda(v) for k, v in location.items()}
        return real_load(*args, **kwargs)

    torch.load = load
    torch.cuda.synchronize = lambda *a, **k: None
    torch.cuda.empty_cache = lambda *a, **k: None


_grader_prelude()
