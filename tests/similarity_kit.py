"""Code for the similarity tests: a skeleton's given code, two students' own answers, and the
copies a student might make of one (renamed, reformatted, reordered)."""

from __future__ import annotations

import nbformat

GIVEN = '''\
import torch
import torch.nn as nn

def show_grid(images, nrow=10):
    """Given: draw a batch of images."""
    images = images.detach().cpu().numpy()[:, 0]
    ncol = (len(images) + nrow - 1) // nrow
    return images.reshape(ncol, nrow, 8, 8).transpose(0, 2, 1, 3).reshape(ncol * 8, nrow * 8)
'''

MODEL = """\
class VAE(nn.Module):
    def __init__(self, latent_dim=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.fc_mu = nn.Linear(16 * 8 * 8, latent_dim)
        self.fc_logvar = nn.Linear(16 * 8 * 8, latent_dim)
        self.fc_dec = nn.Linear(latent_dim, 16 * 8 * 8)

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterise(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + std * torch.randn_like(std)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterise(mu, logvar)
        return torch.sigmoid(self.fc_dec(z)).view(-1, 1, 8, 8), mu, logvar
"""

TRAIN = """\
def train(model, data, epochs=10, lr=1e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        total = 0.0
        for i in range(0, len(data), 64):
            batch = data[i:i + 64]
            recon, mu, logvar = model(batch)
            bce = nn.functional.binary_cross_entropy(recon, batch, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.append(total / len(data))
    return history
"""

# Another student's answer to the same tasks: the same libraries, their own code.
OTHER_MODEL = """\
class Autoencoder(nn.Module):
    def __init__(self, k=8):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 2 * k))
        self.out = nn.Sequential(nn.Linear(k, 128), nn.Tanh(), nn.Linear(128, 64), nn.Sigmoid())
        self.k = k

    def forward(self, images):
        stats = self.net(images)
        means, log_vars = stats[:, :self.k], stats[:, self.k:]
        eps = torch.randn(means.shape)
        codes = means + eps * (log_vars / 2).exp()
        return self.out(codes).reshape(images.shape), means, log_vars
"""

OTHER_TRAIN = """\
def fit(net, xs, n_epochs):
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = [None] * n_epochs
    for e in range(n_epochs):
        perm = torch.randperm(xs.shape[0])
        out, m, lv = net(xs[perm])
        rec = ((out - xs[perm]) ** 2).mean()
        reg = (m ** 2 + lv.exp() - lv - 1).mean() / 2
        opt.zero_grad(); (rec + reg).backward(); opt.step()
        losses[e] = float(rec + reg)
    return losses
"""

SKELETON = [
    GIVEN,
    "class VAE(nn.Module):\n    pass  # your code here\n",
    "def train(model, data, epochs=10, lr=1e-3):\n    raise NotImplementedError\n",
]
ALICE = [GIVEN, MODEL, TRAIN]
CAROL = [GIVEN, OTHER_MODEL, OTHER_TRAIN]

RENAMES = {
    "model": "net", "data": "xs", "optimizer": "opt", "history": "losses", "epoch": "ep", "total": "running",
    "batch": "xb", "recon": "out", "mu": "mean", "logvar": "log_var", "bce": "rec_loss", "kld": "kl",
    "VAE": "MyVAE", "encoder": "enc", "fc_mu": "to_mean", "fc_logvar": "to_logvar", "fc_dec": "dec",
    "encode": "enc_fn", "reparameterise": "sample", "std": "sigma", "latent_dim": "zdim", "h": "hidden",
    "train": "fit_model",
}  # fmt: skip


def renamed(source: str) -> str:
    import re

    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: RENAMES.get(m[0], m[0]), source)


def reformatted(source: str) -> str:
    """What a formatter and a student's taste do: quotes, trailing commas, lines split and joined,
    comments and blank lines added, two-space indentation."""
    out = []
    for line in source.splitlines():
        body = line.lstrip(" ")
        indent = " " * ((len(line) - len(body)) // 2)
        body = body.replace('"', "'").replace(
            "(1, 16, 3, padding=1)", "(\n" + indent + "    1, 16, 3,\n" + indent + "    padding=1,\n" + indent + ")"
        )
        out.append(indent + body + ("  # my comment" if body.endswith(")") else ""))
        if body.startswith(("return", "def")):
            out.append("")
    return "# Task: my answer\n\n" + "\n".join(out) + "\n"


def notebook(cells: list[str]) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Coursework"))
    for source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    return nbformat.writes(nb).encode()


def copied(cells: list[str]) -> list[str]:
    """A copy of ``cells``: every name renamed, reformatted, the two answer cells swapped."""
    given, model, train = cells
    return [given, reformatted(renamed(train)), reformatted(renamed(model))]
