"""Train the CW2 reference models once, offline, on the CPU (a few minutes), and write the reference submissions.

    .venv/bin/python rubrics/cw2/train_reference.py

Runs the solution notebook's own cells (found by id) in this process, so the saved weights fit the
notebook's classes exactly, and writes, next to this file:
- ``solution.zip``: ``cw2.ipynb`` and the three models as ``state_dict`` files (what `grader rubric check`
  grades);
- ``solution_torchscript.zip``: the same models saved with ``torch.jit.save(torch.jit.script(...))``,
  and the notebook's save lines changed to match (a sample submission of tests/cw2_submissions.py).

Seeds are fixed and torch runs on one thread, so a rebuild on the same machine gives the same
``state_dict`` files (TorchScript files carry a random serialization id, so their bytes change).
``tests/cw2_submissions.py`` reuses ``run_cells``/``train`` to retrain its variants.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # the notebook's plots must not open windows

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build  # noqa: E402

DEFINITIONS = (
    "imports",
    "vae-data",
    "vae-hyper",
    "vae",
    "loss",
    "train-vae-fn",
    "gan-data",
    "gan-hyper",
    "gan",
    "train-gan-fn",
)
TRAINING = {"vae": ("train-vae",), "gan": ("train-gan",)}
_IPYTHON_LINE = re.compile(r"^\s*[!%]")


def cell_source(nb: nbformat.NotebookNode, cell_id: str) -> str:
    for cell in nb.cells:
        if cell.get("id") == cell_id:
            return cell.source
    raise KeyError(f"no cell {cell_id!r} in the notebook")


def run_cells(nb: nbformat.NotebookNode, ids: Iterable[str], ns: dict | None = None, quiet: bool = True) -> dict:
    """Execute the notebook's code cells ``ids`` in order in ``ns``. Shell and magic lines are dropped.

    Each cell's source is registered with linecache under its own file name, as IPython does, so
    ``torch.jit.script`` can read the classes' source."""
    ns = {"__name__": "__notebook__"} if ns is None else ns
    for cell_id in ids:
        source = "\n".join("" if _IPYTHON_LINE.match(ln) else ln for ln in cell_source(nb, cell_id).splitlines())
        filename = f"<cw2-cell-{cell_id}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            exec(compile(source, filename, "exec"), ns)
    return ns


def train(nb: nbformat.NotebookNode, out_dir: Path, parts: Iterable[str] = ("vae", "gan"), quiet: bool = True) -> dict:
    """Run the definitions and the training cells of ``parts`` in ``out_dir`` (where the cells save
    their models). Returns the notebook's namespace."""
    import torch

    torch.set_num_threads(1)  # deterministic and fair to a shared machine
    ids = list(DEFINITIONS) + [c for part in parts for c in TRAINING[part]]
    out_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(out_dir):
        return run_cells(nb, ids, quiet=quiet)


def save_torchscript(ns: dict, state_dicts: Path, out_dir: Path) -> None:
    """The models of ``state_dicts`` loaded into the notebook's classes and saved as TorchScript."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, cls in (("VAE_model.pth", "VAE"), ("GAN_G_model.pth", "Generator"), ("GAN_D_model.pth", "Discriminator")):
        model = ns[cls]()
        model.load_state_dict(torch.load(state_dicts / name, weights_only=True))
        model.eval()
        torch.jit.save(torch.jit.script(model), str(out_dir / name))


TORCHSCRIPT_SAVES = {
    "train-vae": [
        ("torch.save(vae.state_dict(), 'VAE_model.pth')", "torch.jit.save(torch.jit.script(vae), 'VAE_model.pth')")
    ],
    "train-gan": [
        ("torch.save(G.state_dict(), 'GAN_G_model.pth')", "torch.jit.save(torch.jit.script(G), 'GAN_G_model.pth')"),
        ("torch.save(D.state_dict(), 'GAN_D_model.pth')", "torch.jit.save(torch.jit.script(D), 'GAN_D_model.pth')"),
    ],
}


def torchscript_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        for old, new in TORCHSCRIPT_SAVES.get(cell.get("id"), []):
            assert cell.source.count(old) == 1, (cell.id, old)
            cell.source = cell.source.replace(old, new)
    return nb


def main() -> int:
    import time

    nb = build.build("solution")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "state_dict"
        started = time.monotonic()
        ns = train(nb, out, quiet=False)
        print(f"trained in {time.monotonic() - started:.1f}s")
        scripted = Path(tmp) / "torchscript"
        save_torchscript(ns, out, scripted)
        for zip_name, notebook, folder in (
            ("solution.zip", nb, out),
            ("solution_torchscript.zip", torchscript_notebook(nb), scripted),
        ):
            members = {build.NOTEBOOK: nbformat.writes(notebook).encode() + b"\n"}
            members.update({name: (folder / name).read_bytes() for name in build.MODEL_FILES})
            build.write_zip(HERE / zip_name, members)
            sizes = ", ".join(f"{n} {len(b) // 1024} KB" for n, b in members.items())
            print(f"wrote {HERE / zip_name}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
