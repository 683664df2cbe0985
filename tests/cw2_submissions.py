"""CW2 test submissions, written the way real ones are, with the marks each must get.

Each sample is a zip like a student's: the notebook (derived from ``rubrics/cw2/solution.ipynb`` by
small, realistic edits, cells found by id) and the three model files, taken from the committed
``rubrics/cw2/solution.zip``, edited as a ``state_dict``, initialised at random by the variant
notebook's own classes, or (the small VAE only, in seconds) retrained with the variant notebook's own
cells (``rubrics/cw2/train_reference.py``). Nothing retrains the real-size DCGAN. ``SUBMISSIONS`` maps
a name to ``Sample(build, expected)``; ``build(folder)`` writes the zip and returns its path.

The expected marks are reasoned by hand from ``rubrics/cw2/rubric.yaml`` (auto items 28 points: VAE
class 12, VAE file 6 + 2, loss 2, GAN files 6; the generated-images item is only suggested; penalties
-1 for models that do not load and for a GAN over 25 000 000 parameters), not taken from a run:
- the VAE class items (convolutions, batch norm/dropout, encode, log-variance, reparametrize,
  forward) judge a fresh ``VAE()`` of the notebook, the file items (layers, reconstruction bands)
  the submitted ``VAE_model.pth`` loaded into it, the GAN items the submitted files;
- whether a file loads and the parameter counts come from a sandbox where no student code runs.

    python tests/cw2_submissions.py OUT_DIR   # writes OUT_DIR/<name>/submission.zip and expected.json
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import v4
from notebook_edits import cell as _cell
from notebook_edits import sub as _sub

REPO = Path(__file__).resolve().parent.parent
CW2 = REPO / "rubrics" / "cw2"
SOLUTION_ZIP = CW2 / "solution.zip"
TORCHSCRIPT_ZIP = CW2 / "solution_torchscript.zip"
SKELETON_ZIP = CW2 / "skeleton.zip"
NOTEBOOK = "cw2.ipynb"
VAE_FILE, G_FILE, D_FILE = "VAE_model.pth", "GAN_G_model.pth", "GAN_D_model.pth"
MODEL_FILES = (VAE_FILE, G_FILE, D_FILE)
PARAMETER_LIMIT = 25_000_000

AUTO_MAX = 28.0
AUTO_ITEMS = [
    "vae_layers",
    "vae_cnn",
    "vae_batchnorm_dropout",
    "vae_encode",
    "vae_logvar",
    "vae_reparametrize",
    "vae_forward",
    "loss_kl",
    "loss_beta",
    "vae_reconstruction",
    "gan_generator",
    "gan_discriminator",
]


def _train_reference():
    """rubrics/cw2/train_reference.py, imported by path (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("cw2_train_reference", CW2 / "train_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return sys.modules[spec.name]


@dataclass(frozen=True)
class Expected:
    """What grading one submission must give. ``score`` counts auto items and penalties only."""

    score: float
    items: dict[str, str] = field(default_factory=dict)  # item id -> status ("a|b": either), key items
    item_scores: dict[str, float] = field(default_factory=dict)  # item id -> score (key items)
    penalties: tuple[str, ...] = ()  # ids of the automatic penalties that apply
    suggested: float | None = None  # the generated-images suggestion (of 10), when it is certain
    why: str = ""


@dataclass(frozen=True)
class Sample:
    build: Callable[[Path], Path]
    expected: Expected


# --------------------------------------------------------------------------------------------------
# Reading and writing submissions


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _notebook(members: dict[str, bytes]) -> nbformat.NotebookNode:
    return nbformat.reads(members[NOTEBOOK].decode(), as_version=4)


def _write(folder: Path, files: dict[str, bytes | nbformat.NotebookNode], zip_name: str = "submission.zip") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / zip_name
    # Level 1: model files of up to 100 MB (the GANs at the limit) deflate in a second, not ten.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in files.items():
            if isinstance(data, nbformat.NotebookNode):
                nbformat.validate(data)
                data = nbformat.writes(data).encode()
            archive.writestr(name, data)
    return path


def _state_dict_bytes(state: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _load_state(data: bytes) -> dict:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _definitions(nb: nbformat.NotebookNode) -> dict:
    """The notebook's namespace after its definitions (data, hyper-parameters, classes, functions)."""
    return _train_reference().run_cells(nb, _train_reference().DEFINITIONS)


def _retrain(nb: nbformat.NotebookNode, parts: tuple[str, ...]) -> dict[str, bytes]:
    """Run the variant notebook's definitions and the training cells of ``parts``; its saved models."""
    with tempfile.TemporaryDirectory() as tmp:
        _train_reference().train(nb, Path(tmp), parts)
        return {name: (Path(tmp) / name).read_bytes() for name in MODEL_FILES if (Path(tmp) / name).is_file()}


# --------------------------------------------------------------------------------------------------
# Colab: the notebook as run and saved there


PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4b20000000049454e44ae426082"
    )
).decode()


def _stream(text: str) -> nbformat.NotebookNode:
    return v4.new_output("stream", name="stdout", text=text)


def colab(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    drive = v4.new_code_cell(
        "from google.colab import drive\ndrive.mount('/content/drive')",
        id="colab-drive",
        execution_count=1,
        outputs=[_stream("Mounted at /content/drive\n")],
    )
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.get("id") == "imports"), drive)
    _sub(
        nb,
        "imports",
        "# given\n",
        "# given\n!pip install -q torchsummary\n%matplotlib inline\nimport torchvision\n"
        "from torchvision import datasets\nfrom torchvision.utils import save_image\n",
    )
    # The course's own data set, downloaded on Colab: dropped alone in definitions mode (a download).
    _sub(
        nb,
        "vae-data",
        "digits = load_digits()\n",
        "mnist = datasets.MNIST('/content/data', train=True, download=True, transform=transforms.ToTensor())\n"
        "digits = load_digits()\n",
    )
    _sub(
        nb,
        "imports",
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "device = torch.device('cuda')",
    )
    _sub(nb, "train-vae", "vae = VAE().to(device)", "vae = VAE().cuda()")
    _sub(
        nb,
        "train-vae",
        "torch.save(vae.state_dict(), 'VAE_model.pth')",
        "torch.save(vae.state_dict(), '/content/drive/MyDrive/DL/cw2/VAE_model.pth')",
    )
    _sub(nb, "train-gan", "G = Generator().to(device)", "G = Generator().cuda()")
    _sub(nb, "train-gan", "D = Discriminator().to(device)", "D = Discriminator().cuda()")
    _sub(
        nb,
        "train-gan",
        "torch.save(G.state_dict(), 'GAN_G_model.pth')",
        "torch.save(G.state_dict(), '/content/drive/MyDrive/DL/cw2/GAN_G_model.pth')",
    )
    _sub(
        nb,
        "train-gan",
        "torch.save(D.state_dict(), 'GAN_D_model.pth')",
        "torch.save(D.state_dict(), '/content/drive/MyDrive/DL/cw2/GAN_D_model.pth')\n"
        "save_image(G(fixed_noise.cuda()) * 0.5 + 0.5, '/content/drive/MyDrive/DL/cw2/samples.png', nrow=10)",
    )
    _cell(nb, "imports").outputs = [_stream("device: cuda\n")]
    _cell(nb, "train-vae").outputs = [_stream("epoch  20  train loss 155.43  test loss 157.36\n")]
    _cell(nb, "gan-samples").outputs = [
        v4.new_output("display_data", data={"image/png": PNG_1PX, "text/plain": "<Figure size 500x500>"})
    ]
    ta = v4.new_code_cell(
        "# TA test cell (as given on Colab)\n"
        "vae_ta = VAE().cuda()\n"
        "vae_ta.load_state_dict(torch.load('/content/drive/MyDrive/DL/cw2/VAE_model.pth'))\n",
        id="colab-ta",
    )
    nb.cells.append(ta)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
    nb.metadata["colab"] = {"provenance": [], "gpuType": "T4"}
    nb.metadata["accelerator"] = "GPU"
    return nb


# --------------------------------------------------------------------------------------------------
# The variants


MLP_VAE = """
class VAE(nn.Module):
    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1 = nn.Linear(784, 400)
        self.fc_mu = nn.Linear(400, latent_dim)
        self.fc_logvar = nn.Linear(400, latent_dim)
        self.fc2 = nn.Linear(latent_dim, 400)
        self.fc3 = nn.Linear(400, 784)

    def encode(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparametrize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc3(F.relu(self.fc2(z)))).view(-1, 1, 28, 28)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparametrize(mu, logvar)), mu, logvar
""".strip("\n")


def mlp_vae(nb):
    _cell(nb, "vae").source = MLP_VAE


def variance_not_logvar(nb):
    _sub(
        nb,
        "vae",
        "self.fc_logvar = nn.Linear(64 * 7 * 7, latent_dim)",
        "self.fc_var = nn.Linear(64 * 7 * 7, latent_dim)",
    )
    _sub(nb, "vae", "return self.fc_mu(h), self.fc_logvar(h)", "return self.fc_mu(h), torch.exp(self.fc_var(h))")
    _sub(
        nb,
        "vae",
        """    def reparametrize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)""",
        """    def reparametrize(self, mu, var):
        std = torch.sqrt(var)""",
    )
    _sub(
        nb,
        "vae",
        """        mu, logvar = self.encode(x)
        z = self.reparametrize(mu, logvar)
        return self.decode(z), mu, logvar""",
        """        mu, var = self.encode(x)
        z = self.reparametrize(mu, var)
        return self.decode(z), mu, var""",
    )
    _cell(nb, "loss").source = """def loss_function_VAE(recon_x, x, mu, var, beta):
    bce = F.binary_cross_entropy(recon_x, x, reduction='sum')
    kld = -0.5 * torch.sum(1 + torch.log(var) - mu.pow(2) - var)
    return bce + beta * kld"""


def wrong_kl_sign(nb):
    _sub(
        nb,
        "loss",
        "kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())",
        "kld = 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())",
    )


def forward_returns_input(nb):
    _sub(nb, "vae", "return self.decode(z), mu, logvar", "return x, mu, logvar  # perfect reconstructions!")


# A wider generator: with 185 base channels (24 964 194 stored values with the standard discriminator)
# the GAN is just under the limit, with 186 just over (25 214 586).
NGF_UNDER, NGF_OVER = 185, 186


def wide_generator(ngf: int):
    def edit(nb):
        _sub(nb, "gan", "def __init__(self, nz=NZ, ngf=64):", f"def __init__(self, nz=NZ, ngf={ngf}):")

    return edit


class CodeOnLoad:
    """Pickled as a call of os.system: unpickling it with weights_only=False would run the command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _collapse(g_state: dict) -> dict:
    """The generator's first layer zeroed: every noise vector gives the same image (total collapse)."""
    state = dict(g_state)
    first = next(k for k, v in state.items() if k.endswith("weight") and v.ndim == 4)
    state[first] = state[first] * 0
    return state


# --------------------------------------------------------------------------------------------------
# The samples and their marks


def _all_passed(**changes: str) -> dict[str, str]:
    items = {i: "passed" for i in AUTO_ITEMS}
    items.update(changes)
    return items


def _from_solution(
    edit=None,
    retrain: tuple[str, ...] = (),
    untrained: tuple[str, ...] = (),
    models: Callable[[dict], dict] | None = None,
    style: Callable | None = None,
    layout: Callable[[dict], dict] | None = None,
):
    def build(folder: Path) -> Path:
        members = _members(SOLUTION_ZIP)
        nb = _notebook(members)
        if edit is not None:
            edit(nb)
        files = {name: members[name] for name in MODEL_FILES}
        if retrain:
            files.update(_retrain(nb, retrain))
        if untrained:
            files.update(_random_init(nb, untrained))
        if models is not None:
            files = models(files)
        nb = style(nb) if style is not None else nb
        out: dict = {NOTEBOOK: nb, **files}
        return _write(folder, layout(out) if layout else out)

    return build


def _copy(path: Path):
    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "submission.zip"
        target.write_bytes(path.read_bytes())
        return target

    return build


def _random_init(nb: nbformat.NotebookNode, names: tuple[str, ...], seed: int = 0) -> dict[str, bytes]:
    """Model files of freshly initialised (untrained) instances of the notebook's own classes."""
    import torch

    ns = _definitions(nb)
    torch.manual_seed(seed)
    classes = {VAE_FILE: "VAE", G_FILE: "Generator", D_FILE: "Discriminator"}
    return {name: _state_dict_bytes(ns[classes[name]]().state_dict()) for name in names}


def _saved_on_gpu(files: dict) -> dict:
    """The reference's state_dicts as saved on a GPU: every storage's location in the file is 'cuda:0'
    (torch.save records ``location_tag(storage)``; here it says cuda:0 for the CPU tensors), so
    torch.load without map_location fails on a CPU-only machine."""
    import torch
    import torch.serialization as serialization

    out = dict(files)
    real_tag = serialization.location_tag
    serialization.location_tag = lambda storage: "cuda:0"
    try:
        for name in MODEL_FILES:
            out[name] = _state_dict_bytes(_load_state(files[name]))
    finally:
        serialization.location_tag = real_tag
    assert b"cuda:0" in out[G_FILE] and torch.serialization.location_tag is real_tag
    return out


def _traced(files: dict) -> dict:
    """The reference's models saved with torch.jit.trace: TorchScript with forward() only."""
    import torch

    ns = _definitions(_notebook(_members(SOLUTION_ZIP)))
    out = dict(files)
    examples = (
        (VAE_FILE, "VAE", torch.rand(2, 1, 28, 28)),
        (G_FILE, "Generator", torch.randn(2, 100, 1, 1)),
        (D_FILE, "Discriminator", torch.rand(2, 3, 32, 32)),
    )
    for name, cls, example in examples:
        model = ns[cls]()
        model.load_state_dict(_load_state(files[name]))
        model.eval()
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), buffer)
        out[name] = buffer.getvalue()
    return out


def _colab_layout(files: dict) -> dict:
    """As zipped from a Drive folder: the models in a sub-folder, the notebook under Colab's name."""
    out = {"CW2_Generative_Models.ipynb": files[NOTEBOOK]}
    out.update({f"cw2/{name}": files[name] for name in MODEL_FILES})
    return out


def _rename_var(files: dict) -> dict:
    state = _load_state(files[VAE_FILE])
    renamed = {k.replace("fc_logvar.", "fc_var."): v for k, v in state.items()}
    return {**files, VAE_FILE: _state_dict_bytes(renamed)}


def _collapsed(files: dict) -> dict:
    return {**files, G_FILE: _state_dict_bytes(_collapse(_load_state(files[G_FILE])))}


def _lfs_pointer(files: dict) -> dict:
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 128113\n"
    )
    return {**files, VAE_FILE: pointer}


def pickle_marker() -> Path:
    """Where the hostile pickle tries to write on the host (the test asserts it never appears)."""
    return Path(tempfile.gettempdir()) / f"cw2-pickle-ran-{os.getpid()}"


def _hostile_pickle(files: dict) -> dict:
    import torch

    buffer = io.BytesIO()
    torch.save({"main.0.weight": CodeOnLoad(f"touch {pickle_marker()}")}, buffer)
    return {**files, G_FILE: buffer.getvalue()}


def build_samples() -> dict[str, Sample]:
    subs: dict[str, Sample] = {}

    subs["correct"] = Sample(
        _copy(SOLUTION_ZIP),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=10.0,
            why="the reference: every auto item; its samples are diverse and close to real digits",
        ),
    )

    subs["torchscript"] = Sample(
        _copy(TORCHSCRIPT_ZIP),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=10.0,
            why="the reference saved with torch.jit.save(torch.jit.script(...)): the models load with "
            "torch.jit.load in the student's kernel and mark the same",
        ),
    )

    subs["torchscript_traced"] = Sample(
        _from_solution(models=_traced),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=10.0,
            why="the reference saved with torch.jit.trace: the files have forward() only, so the judge copies "
            "their weights into the notebook's classes, which mark the same",
        ),
    )

    subs["colab"] = Sample(
        _from_solution(style=colab, layout=_colab_layout),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=10.0,
            why="the reference as run on Colab: drive mount, !pip, %matplotlib, torchvision imports (they run: "
            "the runtime has torchvision), MNIST downloaded with download=True (dropped alone: a download), "
            "cuda without fallback, .cuda(), /content paths, an embedded image, a TA cell loading from Drive; "
            "the notebook renamed and the models in a folder of the zip. Definitions mode skips the training "
            "and saving; every auto item",
        ),
    )

    subs["mlp_vae"] = Sample(
        _from_solution(mlp_vae, retrain=("vae",)),
        Expected(
            score=24.0,
            items=_all_passed(vae_cnn="failed", vae_batchnorm_dropout="failed"),
            item_scores={"vae_cnn": 0.0, "vae_batchnorm_dropout": 0.0, "vae_reconstruction": 2.0},
            why="an MLP-only VAE without batch norm or dropout, retrained (a 784-400-16 MLP: seconds): no "
            "convolutions (3) and no normalisation (1); on the hidden font digits it reconstructs less well "
            "than the CNN (49 to 62 nats over the least possible, the reference 31 to 39) but within twice "
            "the reference's, the top band (at most 75). 28 - 3 - 1 = 24",
        ),
    )

    subs["variance_not_logvar"] = Sample(
        _from_solution(variance_not_logvar, models=_rename_var),
        Expected(
            score=27.0,
            items=_all_passed(vae_logvar="failed"),
            item_scores={"vae_logvar": 0.0},
            why="encode returns the variance (exp of a linear layer), reparametrize takes its square root and "
            "the loss's KL uses log(var): consistent, so reparametrize and the loss pass under that reading; "
            "only the log-variance item (1) fails. Same weights as the reference, fc_logvar renamed fc_var",
        ),
    )

    subs["wrong_kl_sign"] = Sample(
        _from_solution(wrong_kl_sign, retrain=("vae",)),
        Expected(
            score=WRONG_KL_SCORE,
            items=_all_passed(loss_kl="failed", **WRONG_KL_ITEMS),
            item_scores={"loss_kl": 0.0, "loss_beta": 1.0, "vae_reconstruction": 0.0},
            why="the KL term's sign flipped (+0.5 * sum(...)): loss_kl (1) fails, loss_beta passes (the "
            "reconstruction term and the beta weighting are right). " + WRONG_KL_WHY,
        ),
    )

    subs["forward_returns_input"] = Sample(
        _from_solution(forward_returns_input, untrained=(VAE_FILE,)),
        Expected(
            score=25.0,
            items=_all_passed(vae_forward="partial", vae_reconstruction="failed"),
            item_scores={"vae_forward": 1.0, "vae_reconstruction": 0.0},
            why="forward returns (x, mu, logvar): a zero reconstruction loss, so training never reaches the "
            "decoder (the file is an untrained VAE of the notebook's class). forward keeps its shape half "
            "(1 of 2); the judge decodes the latent means itself, and the untrained decoder earns no "
            "reconstruction band (2). 28 - 1 - 2 = 25",
        ),
    )

    subs["gan_over_limit"] = Sample(
        _from_solution(wide_generator(NGF_OVER), untrained=(G_FILE, D_FILE)),
        Expected(
            score=27.0,
            items=_all_passed(),
            penalties=("gan_over_parameter_limit",),
            suggested=2.0,
            why=f"a generator with {NGF_OVER} base channels, untrained (random initialisation): with the standard "
            "discriminator the files store 25 214 586 values, just over 25 000 000. The generator and "
            "discriminator items check shapes and ranges only, so every auto item passes; the "
            "parameter-limit penalty applies (-1). Untrained, it draws nearly the same image from any "
            "noise (diversity about 0.01 of the real digits'): the collapse suggestion, 2/10",
        ),
    )

    subs["gan_under_limit"] = Sample(
        _from_solution(wide_generator(NGF_UNDER), untrained=(G_FILE, D_FILE)),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=2.0,
            why=f"a generator with {NGF_UNDER} base channels, untrained (random initialisation): the files store "
            "24 964 194 values, just under 25 000 000 by the same count (BatchNorm's running statistics "
            "included), so no penalty; every auto item passes. Untrained, it draws nearly the same image "
            "from any noise: the collapse suggestion, 2/10",
        ),
    )

    subs["saved_on_gpu"] = Sample(
        _from_solution(models=_saved_on_gpu),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=10.0,
            why="the reference's state_dicts as saved on a GPU (every tensor on cuda:0 in the files): the "
            "pre-check, the judge and the student's kernel load them with map_location='cpu' on a CPU-only "
            "worker, so they mark as the reference does",
        ),
    )

    subs["mode_collapse"] = Sample(
        _from_solution(models=_collapsed),
        Expected(
            score=28.0,
            items=_all_passed(),
            suggested=2.0,
            why="the generator's first layer zeroed: every noise vector gives the same image. Shape and range "
            "are right, so the auto items pass; the diversity check on the judge's noise flags the collapse "
            "and suggests 2/10 for the generated images",
        ),
    )

    subs["vae_file_does_not_load"] = Sample(
        _from_solution(models=_lfs_pointer),
        Expected(
            score=19.0,
            items=_all_passed(vae_layers="failed", vae_reconstruction="failed"),
            item_scores={"vae_layers": 0.0, "vae_reconstruction": 0.0},
            penalties=("models_do_not_load",),
            why="VAE_model.pth is a git-lfs pointer, not the model: the file items fail (6 + 2) and the "
            "models-do-not-load penalty applies (-1); the class, loss and GAN items are unaffected. "
            "28 - 8 - 1 = 19",
        ),
    )

    subs["pickle_runs_code"] = Sample(
        _from_solution(models=_hostile_pickle),
        Expected(
            score=24.0,
            items=_all_passed(gan_generator="failed"),
            item_scores={"gan_generator": 0.0},
            penalties=("models_do_not_load",),
            why="GAN_G_model.pth is a pickle whose loading would run os.system: weights-only loading refuses "
            "it (nothing runs, on the host or in the sandbox), so the generator item (3) fails and the "
            "models-do-not-load penalty applies (-1). 28 - 3 - 1 = 24",
        ),
    )

    subs["skeleton"] = Sample(
        _copy(SKELETON_ZIP),
        Expected(
            score=0.0,
            items={i: "error|failed" for i in AUTO_ITEMS},
            item_scores={i: 0.0 for i in AUTO_ITEMS},
            penalties=("models_do_not_load",),
            why="the blank skeleton with empty model files: every class raises NotImplementedError and no "
            "file loads; 0 - 1 clamps to 0",
        ),
    )
    return subs


# The VAE retrained with the flipped KL sign: the loss rewards a wide posterior, so training drives
# |mu| and logvar up and the decoder learns to ignore z.
WRONG_KL_SCORE = 25.0
WRONG_KL_ITEMS = {"vae_reconstruction": "failed"}
WRONG_KL_WHY = (
    "Retrained with that loss (the VAE is small: seconds), the decoder ignores z: reconstructions from "
    "the latent means are about as bad as the average digit on the hidden font digits (186 to 196 nats "
    "per image over the least possible, the average digit 210 to 220; the lowest band ends at 125), so "
    "vae_reconstruction (2) fails. "
    "28 - 1 - 2 = 25"
)

SUBMISSIONS = build_samples()


def write_all(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sample in SUBMISSIONS.items():
        sample.build(out_dir / name)
        (out_dir / name / "expected.json").write_text(json.dumps(asdict(sample.expected), indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/cw2_submissions.py OUT_DIR")
    write_all(Path(sys.argv[1]))
