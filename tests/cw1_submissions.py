"""CW1 test submissions, written the way real ones are, with the marks each must get.

Built with nbformat from the reference solution's cells (``rubrics/cw1/solution.ipynb``, cells found
by id) with substitutions: Colab-isms (``device = torch.device('cuda')`` without a fallback, ``.cuda()``,
``/content/...`` paths, ``!pip install``, ``google.colab`` drive mounts, ``%matplotlib inline``) and
one bug each. ``SUBMISSIONS`` maps a name to ``(notebook, Expected)``.

The expected marks are reasoned by hand from ``rubrics/cw1/rubric.yaml`` (auto items 72 points:
layers 42, network 30; manual 28), not taken from a run of the grader:
- a score is the auto items plus penalties (what ``grader grade --json`` reports as ``score``);
- an item with several tests scores the mean of their fractions; a failed test keeps its
  ``credit.partial`` floor;
- the accuracy item (26 points) pays by band: >= 90 % all, >= 80 % 0.8, >= 65 % 0.6, >= 50 % 0.4,
  >= 30 % 0.2. The hidden set is the course's digits (``rubrics/cw1/digits.py``) from a secret seed;
  the reference, trained on 1200 of them from the public seed, lands at about 98 % (98.2-98.7 % on
  three fresh draws), so variants that train like it are given exact scores.

    python tests/cw1_submissions.py OUT_DIR   # writes OUT_DIR/<name>/cw1.ipynb and expected.json
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import v4
from notebook_edits import cell as _cell
from notebook_edits import sub as _sub

REPO = Path(__file__).resolve().parent.parent
CW1 = REPO / "rubrics" / "cw1"
SOLUTION = CW1 / "solution.ipynb"
SKELETON = CW1 / "skeleton.ipynb"
NOTEBOOK_NAME = "cw1.ipynb"

AUTO_MAX = 72.0  # auto items of rubrics/cw1/rubric.yaml
LAYER_ITEMS = [
    "conv2d_basic",
    "conv2d_stride",
    "conv2d_padding",
    "conv2d_bias",
    "conv2d_combined",
    "maxpool_forward",
    "maxpool_default_stride",
    "maxpool_gradient",
    "batchnorm_train",
    "batchnorm_running_stats",
    "batchnorm_eval",
    "linear_forward",
    "linear_bias",
    "gradients",
]
NETWORK_ITEMS = ["model_output", "accuracy"]


@dataclass(frozen=True)
class Expected:
    """What grading one submission must give. ``score`` counts auto items and penalties only."""

    score: float | None = None  # exact (to 0.01), or None when the range below applies
    score_range: tuple[float, float] | None = None  # inclusive, for accuracy-dependent variants
    items: dict[str, str] = field(default_factory=dict)  # item id -> status ("a|b": either), key items only
    item_scores: dict[str, float] = field(default_factory=dict)  # item id -> score (key items)
    penalties: tuple[str, ...] = ()  # ids of the penalties that apply
    why: str = ""

    def accepts(self, score: float) -> bool:
        if self.score is not None:
            return abs(score - self.score) <= 0.01
        assert self.score_range is not None
        return self.score_range[0] - 0.01 <= score <= self.score_range[1] + 0.01


# --------------------------------------------------------------------------------------------------
# Editing notebooks


def _load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _insert(nb: nbformat.NotebookNode, before: str | None, after: str | None, cell: nbformat.NotebookNode) -> None:
    ids = [c.get("id") for c in nb.cells]
    index = ids.index(before) if before else ids.index(after) + 1
    nb.cells.insert(index, cell)


def _stream(text: str) -> nbformat.NotebookNode:
    return v4.new_output("stream", name="stdout", text=text)


def colab(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Turn the reference into a notebook as run and saved on Colab."""
    nb = copy.deepcopy(nb)
    drive = v4.new_code_cell(
        "from google.colab import drive\ndrive.mount('/content/drive')",
        id="colab-drive",
        execution_count=1,
        outputs=[_stream("Mounted at /content/drive\n")],
    )
    _insert(nb, "imports", None, drive)
    _sub(nb, "imports", "# given\n", "# given\n!pip install torchsummary\n%matplotlib inline\n")
    _sub(
        nb,
        "imports",
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "device = torch.device('cuda')",
    )
    _cell(nb, "imports").outputs = [
        _stream("Collecting torchsummary\nSuccessfully installed torchsummary-1.5.1\ndevice: cuda\n")
    ]
    _sub(
        nb,
        "train-fn",
        "xb, yb = X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)",
        "xb, yb = X[i:i + batch_size].cuda(), y[i:i + batch_size].cuda()",
    )
    _sub(nb, "train-fn", "xb, yb = xb.to(device), yb.to(device)", "xb, yb = xb.cuda(), yb.cuda()")
    _sub(nb, "train", "model = SmallResNet().to(device)", "model = SmallResNet().cuda()")
    _sub(
        nb,
        "train",
        "print(f'trained in {time.time() - start:.1f}s')",
        "print(f'trained in {time.time() - start:.1f}s')\ntorch.save(model.state_dict(), '/content/model.pth')",
    )
    _cell(nb, "train").outputs = [
        _stream(
            "19706 parameters\nepoch  1  train loss 2.301 acc 0.103  val loss 2.306 "
            "acc 0.093\n...\nepoch 15  train loss 0.019 acc 1.000  val loss 0.016 "
            "acc 1.000\ntrained in 3.1s\n"
        )
    ]
    summary = v4.new_code_cell("from torchsummary import summary\nsummary(model, (1, 8, 8))", id="colab-summary")
    _insert(nb, None, "train", summary)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
    nb.metadata["colab"] = {"provenance": [], "gpuType": "T4"}
    nb.metadata["accelerator"] = "GPU"
    return nb


# --------------------------------------------------------------------------------------------------
# The bugs, one per variant


def conv_ignores_stride(nb):
    _sub(nb, "conv2d", "h_out = (h + 2 * p - k) // s + 1", "h_out = h + 2 * p - k + 1")
    _sub(nb, "conv2d", "w_out = (w + 2 * p - k) // s + 1", "w_out = w + 2 * p - k + 1")
    _sub(nb, "conv2d", "cols = F.unfold(x, (k, k), padding=p, stride=s)", "cols = F.unfold(x, (k, k), padding=p)")


def conv_ignores_padding(nb):
    _sub(nb, "conv2d", "h_out = (h + 2 * p - k) // s + 1", "h_out = (h - k) // s + 1")
    _sub(nb, "conv2d", "w_out = (w + 2 * p - k) // s + 1", "w_out = (w - k) // s + 1")
    _sub(nb, "conv2d", "cols = F.unfold(x, (k, k), padding=p, stride=s)", "cols = F.unfold(x, (k, k), stride=s)")


def conv_forgets_bias(nb):
    _sub(nb, "conv2d", "        if self.bias is not None:\n            out = out + self.bias.reshape(1, -1, 1)\n", "")


def conv_uses_library(nb):
    start = _cell(nb, "conv2d").source.index("        n, _, h, w = x.shape")
    cell = _cell(nb, "conv2d")
    cell.source = cell.source[:start] + (
        "        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)"
    )


def maxpool_default_stride_one(nb):
    _sub(
        nb,
        "maxpool2d",
        "self.stride = kernel_size if stride is None else stride",
        "self.stride = 1 if stride is None else stride",
    )


def maxpool_loops_forever(nb):
    _sub(
        nb,
        "maxpool2d",
        """        k, s = self.kernel_size, self.stride
        # (N, C, h_out, w_out, k, k): one k x k window per output position.
        windows = x.unfold(2, k, s).unfold(3, k, s)
        return windows.flatten(-2).amax(dim=-1)""",
        """        k, s = self.kernel_size, self.stride
        n, c, h, w = x.shape
        h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
        out = x.new_empty(n, c, h_out, w_out)
        i = 0
        while i < h_out:
            for j in range(w_out):
                out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].amax(dim=(2, 3))
        return out""",
    )


def bn_biased_running_var(nb):
    _sub(nb, "batchnorm2d", "unbiased = var * n / max(n - 1, 1)", "unbiased = var")


def bn_no_running_update(nb):
    _sub(
        nb,
        "batchnorm2d",
        """            n = x.numel() // x.shape[1]
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                unbiased = var * n / max(n - 1, 1)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
""",
        "",
    )


def bn_batch_stats_in_eval(nb):
    _sub(
        nb,
        "batchnorm2d",
        """        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            n = x.numel() // x.shape[1]""",
        """        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        if self.training:
            n = x.numel() // x.shape[1]""",
    )
    _sub(
        nb,
        "batchnorm2d",
        """        else:
            mean, var = self.running_mean, self.running_var
""",
        "",
    )


def linear_transposed(nb):
    _sub(
        nb,
        "linear",
        "torch.empty(out_features, in_features).uniform_(-bound, bound)",
        "torch.empty(in_features, out_features).uniform_(-bound, bound)",
    )
    _sub(nb, "linear", "out = x @ self.weight.t()", "out = x @ self.weight")


def plot_name_error(nb):
    _sub(
        nb,
        "plot",
        "epochs = range(1, len(history['train_loss']) + 1)",
        "epochs = range(1, len(hist['train_loss']) + 1)",
    )


# --------------------------------------------------------------------------------------------------
# Expected marks


def _all_passed(**changes: str) -> dict[str, str]:
    items = {i: "passed" for i in LAYER_ITEMS + NETWORK_ITEMS}
    items.update(changes)
    return items


def _variant(bug, colab_style: bool = True) -> nbformat.NotebookNode:
    nb = _load(SOLUTION)
    if bug is not None:
        bug(nb)
    nb = colab(nb) if colab_style else nb
    nbformat.validate(nb)
    return nb


def build() -> dict[str, tuple[nbformat.NotebookNode, Expected]]:
    subs: dict[str, tuple[nbformat.NotebookNode, Expected]] = {}

    subs["colab_correct"] = (
        _variant(None),
        Expected(
            score=72.0,
            items=_all_passed(),
            item_scores={"accuracy": 26.0},
            why="the reference as run on Colab (cuda without fallback, .cuda(), /content paths, !pip, drive "
            "mount, %matplotlib, a torchsummary cell): every auto item; the runner must cope with the "
            "Colab-isms (a failing torchsummary import or drive mount is its own cell and costs nothing)",
        ),
    )

    subs["conv_ignores_stride"] = (
        _variant(conv_ignores_stride, colab_style=False),
        Expected(
            score=66.0,
            items=_all_passed(conv2d_stride="failed", conv2d_combined="failed"),
            item_scores={"conv2d_stride": 0.0, "conv2d_combined": 0.0},
            why="stride ignored: conv2d_stride (3) and conv2d_combined (3) fail; the network keeps consistent "
            "shapes (the shortcut ignores the stride too), trains at 8x8 throughout and stays in the top band",
        ),
    )

    subs["conv_ignores_padding"] = (
        _variant(conv_ignores_padding, colab_style=False),
        Expected(
            score=38.0,
            items=_all_passed(
                conv2d_padding="failed", conv2d_combined="failed", model_output="partial", accuracy="error"
            ),
            item_scores={"conv2d_padding": 0.0, "conv2d_combined": 0.0, "model_output": 2.0, "accuracy": 0.0},
            why="padding ignored: conv2d_padding (3) and conv2d_combined (3) fail; the residual addition then "
            "has mismatched shapes, so training raises and the model cannot predict: model_output keeps "
            "only its source half (2 of 4) and accuracy (26) errors. 72 - 3 - 3 - 2 - 26 = 38",
        ),
    )

    subs["conv_forgets_bias"] = (
        _variant(conv_forgets_bias),
        Expected(
            score=67.5556,
            items=_all_passed(conv2d_bias="partial", conv2d_combined="failed", gradients="partial"),
            item_scores={"conv2d_bias": 1.0, "conv2d_combined": 0.0, "gradients": 3.5556},
            why="the bias is created but never added: test_conv2d_bias fails, test_conv2d_no_bias passes "
            "(conv2d_bias 1 of 2); conv2d_combined uses a bias (0 of 3); test_grad_conv2d gets 2/3 (no "
            "gradient reaches the bias), so gradients = 4 * (2/3 + 1 + 1) / 3 = 3.5556; the network's "
            "convolutions have bias=False, so it trains like the reference. 72 - 1 - 3 - 0.4444",
        ),
    )

    subs["maxpool_default_stride_one"] = (
        _variant(maxpool_default_stride_one),
        Expected(
            score=70.0,
            items=_all_passed(maxpool_default_stride="failed"),
            item_scores={"maxpool_default_stride": 0.0},
            why="MaxPool2d(k) uses stride 1 instead of k: only maxpool_default_stride (2) fails; the network "
            "has no max-pooling",
        ),
    )

    subs["maxpool_loops_forever"] = (
        _variant(maxpool_loops_forever),
        Expected(
            score=65.0,
            items=_all_passed(
                maxpool_forward="timeout",
                maxpool_default_stride="timeout",
                # its loop grows the autograd graph: on a slow machine the kernel
                # is OOM-killed (error) before the call times out; 0 either way
                maxpool_gradient="timeout|error",
            ),
            item_scores={"maxpool_forward": 0.0, "maxpool_default_stride": 0.0, "maxpool_gradient": 0.0},
            why="MaxPool2d.forward never advances its row index: each of its three tests times out (the kernel "
            "is interrupted) and loses 3 + 2 + 2; nothing else calls MaxPool2d, so every other item passes",
        ),
    )

    subs["bn_biased_running_var"] = (
        _variant(bn_biased_running_var, colab_style=False),
        Expected(
            score=70.0,
            items=_all_passed(batchnorm_running_stats="partial"),
            item_scores={"batchnorm_running_stats": 2.0},
            why="running_var updated with the biased variance: running_mean right (partial 0.5), running_var "
            "wrong: batchnorm_running_stats 2 of 4; the network's accuracy is unaffected",
        ),
    )

    subs["bn_no_running_update"] = (
        _variant(bn_no_running_update, colab_style=False),
        Expected(
            score=42.0,
            items=_all_passed(batchnorm_running_stats="failed", accuracy="failed"),
            item_scores={"batchnorm_running_stats": 0.0, "accuracy": 0.0},
            why="running statistics never updated: batchnorm_running_stats (4) fails (running_mean already "
            "wrong); in evaluation mode the network normalises with mean 0 and variance 1, which it never "
            "saw in training: 10 % (one class for every image) on fresh draws, below the lowest band (30 %), "
            "so accuracy (26) fails. 72 - 4 - 26 = 42",
        ),
    )

    subs["bn_batch_stats_in_eval"] = (
        _variant(bn_batch_stats_in_eval, colab_style=False),
        Expected(
            score=69.0,
            items=_all_passed(batchnorm_eval="failed"),
            item_scores={"batchnorm_eval": 0.0},
            why="batch statistics in evaluation mode: batchnorm_eval (3) fails; the judge predicts the whole "
            "hidden set in one batch, whose statistics are close to the training ones: top band",
        ),
    )

    subs["linear_transposed"] = (
        _variant(linear_transposed),
        Expected(
            score=66.6667,
            items=_all_passed(linear_forward="failed", linear_bias="partial", gradients="partial"),
            item_scores={"linear_forward": 0.0, "linear_bias": 1.0, "gradients": 2.6667},
            why="weight stored as (in, out): the judge cannot load torch-shaped weights: linear_forward (3) "
            "fails, linear_bias keeps its structural half (1 of 2), test_grad_linear fails so gradients = "
            "4 * 2/3; the network trains consistently and stays in the top band. 72 - 3 - 1 - 1.3333",
        ),
    )

    subs["plot_name_error"] = (
        _variant(plot_name_error),
        Expected(
            score=72.0,
            items=_all_passed(),
            item_scores={"accuracy": 26.0},
            why="NameError in the plotting cell, after training: nothing auto-marked depends on it",
        ),
    )

    subs["conv_uses_library"] = (
        _variant(conv_uses_library),
        Expected(
            score=62.0,
            items=_all_passed(),
            penalties=("library_layers",),
            why="Conv2d.forward calls F.conv2d: every test passes, but the source check applies the "
            "library_layers penalty (-10)",
        ),
    )

    subs["skeleton"] = (
        _load(SKELETON),
        Expected(
            score=0.0,
            items={
                "conv2d_basic": "error",
                "maxpool_forward": "error",
                "batchnorm_train": "error",
                "linear_forward": "error",
                "model_output": "error",
                "accuracy": "error",
            },
            item_scores={i: 0.0 for i in LAYER_ITEMS + NETWORK_ITEMS},
            why="the blank skeleton: every layer raises NotImplementedError, `model` is never built; no "
            "library layers, so no penalty",
        ),
    )
    return subs


SUBMISSIONS = build()


def write_all(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (nb, expected) in SUBMISSIONS.items():
        folder = out_dir / name
        folder.mkdir(exist_ok=True)
        nbformat.write(nb, str(folder / NOTEBOOK_NAME))
        (folder / "expected.json").write_text(json.dumps(asdict(expected), indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/cw1_submissions.py OUT_DIR")
    write_all(Path(sys.argv[1]))
