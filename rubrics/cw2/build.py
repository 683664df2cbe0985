"""Build the CW2 sample notebooks: ``skeleton.ipynb`` (what students get) and ``solution.ipynb``.

    .venv/bin/python rubrics/cw2/build.py

Like ``rubrics/cw1/build.py``: one list of cells, each markdown, given code (the same in both), or a
task (the skeleton's stub and the solution's code), with fixed ids so ``tests/cw2_submissions.py``
and ``train_reference.py`` can find cells by id. Students submit a zip of ``cw2.ipynb`` and the
three model files; grading runs the notebook's definitions only and evaluates the submitted weights.

The shapes are the real course's (docs/cw2-sample.md): a VAE on 1 x 28 x 28 images (scikit-learn's
digits made MNIST-like), a standard DCGAN (64 base channels, about 4.1 million parameters) on
3 x 32 x 32 images (the same digits, coloured, CIFAR-sized) with the course's fixed 100 x 100 x 1 x 1
latent batch, and the real 25 000 000 parameter limit. The data is made here, since no download is
possible; the given cells use torchvision (a ``transforms.Compose`` pipeline, ``make_grid``), as real
notebooks do, and both run in definitions mode, so grading exercises the runtime's torchvision.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.rubrics.authoring import ANSWER_STUB, Cell, build_notebook, code, md, write_notebooks, write_zip

HERE = Path(__file__).resolve().parent

CELLS: list[Cell] = [
    md(
        "intro",
        """
        # Coursework 2: Generative models

        Part 1 trains a **variational auto-encoder** (VAE) on 1 x 28 x 28 digits (MNIST's shape) and Part 2
        a **DCGAN** on 3 x 32 x 32 coloured digits (CIFAR-10's shape). Both data sets are made from
        scikit-learn's handwritten digits, upscaled, so nothing needs downloading.

        **Submission**: a zip holding this notebook as **`cw2.ipynb`** (with its outputs) and your trained
        models **`VAE_model.pth`**, **`GAN_G_model.pth`** and **`GAN_D_model.pth`**, saved with
        `torch.save(model.state_dict(), ...)` (or as TorchScript with `torch.jit.save(torch.jit.script(model), ...)`).
        Nothing else goes in the zip.

        **How it is marked**: the notebook is *not* re-trained. The marking runs its imports, classes,
        functions and constants (not its training loops), loads your saved models into your classes and
        tests them; your plots, samples and answers are read by a marker. Keep the class and function names
        and signatures given below. Models that do not load cost a penalty (-1), and so does a GAN with more
        than 25 000 000 parameters (generator and discriminator together).

        **Marks** (100): Part 1 (VAE) 50, Part 2 (DCGAN) 50.
        """,
    ),
    code(
        "imports",
        """
        # given
        import numpy as np
        import matplotlib.pyplot as plt
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from sklearn.datasets import load_digits
        from sklearn.manifold import TSNE
        from torchvision import transforms
        from torchvision.utils import make_grid

        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        print('device:', device)


        def show_grid(images, nrow=10, title=None, value_range=(0, 1)):
            \"\"\"Show a batch of images (a tensor N x C x H x W, C = 1 or 3) as a grid.\"\"\"
            grid = make_grid(images.detach().cpu().float(), nrow=nrow, padding=2, pad_value=1,
                             normalize=True, value_range=value_range)
            ncol = (len(images) + nrow - 1) // nrow
            plt.figure(figsize=(nrow * 0.6, ncol * 0.6))
            plt.imshow(grid.permute(1, 2, 0).numpy())
            plt.axis('off')
            if title:
                plt.title(title)
            plt.show()
        """,
    ),
    md(
        "part1",
        """
        ## Part 1: Variational auto-encoder (50 points)

        ### Data (given)
        scikit-learn's 8 x 8 digits made MNIST-like: scaled to [0, 1], upscaled to 20 x 20 and centred on a
        28 x 28 canvas (a `transforms.Compose` pipeline). The first 1500 are yours (1300 to train, 200 to
        test); the last 297 are not used. The marking reconstructs hidden digits of its own (drawn from
        fonts, placed as it chooses) with your trained VAE: a VAE that generalises does well.
        """,
    ),
    code(
        "vae-data",
        """
        # given
        digits = load_digits()
        raw = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # N x 1 x 8 x 8 in [0, 1]
        to_mnist = transforms.Compose([
            transforms.Resize((20, 20), antialias=False),  # bilinear
            transforms.Pad(4),                             # centred on 28 x 28, as MNIST's digits are
        ])
        images = to_mnist(raw).clamp(0, 1)  # N x 1 x 28 x 28
        labels = torch.tensor(digits.target)
        N_DEV = 1500  # images[N_DEV:] are not used
        perm = torch.randperm(N_DEV, generator=torch.Generator().manual_seed(0))
        X_train, X_test = images[perm[:1300]], images[perm[1300:]]
        y_train, y_test = labels[perm[:1300]], labels[perm[1300:]]
        print('train', tuple(X_train.shape), 'test', tuple(X_test.shape))
        preview = make_grid(X_train[:32], nrow=8, pad_value=1)
        plt.imshow(preview.permute(1, 2, 0))
        plt.axis('off')
        plt.show()
        """,
    ),
    md(
        "vae-md",
        """
        ### 1.1a The VAE (25 points)
        Implement `VAE(nn.Module)`; `VAE()` must work without arguments. Use **convolutions** in the encoder
        and decoder (an MLP-only VAE earns the layer marks but not the CNN ones) and batch normalisation or
        dropout.
        - `encode(x)`: `x` is `(N, 1, 28, 28)`; return `(mu, logvar)`, the mean and the **log-variance** of
          q(z|x), each `(N, latent_dim)`.
        - `reparametrize(mu, logvar)`: a sample `z ~ N(mu, exp(logvar))`, differentiable in `mu` and `logvar`.
        - `decode(z)`: `(N, latent_dim)` to images `(N, 1, 28, 28)` with values in [0, 1].
        - `forward(x)`: return `(reconstruction, mu, logvar)`.
        """,
    ),
    code(
        "vae-hyper",
        """
        # Hyper-parameters: change them if you like.
        LATENT_DIM = 16
        VAE_EPOCHS = 20
        VAE_LR = 2e-3
        BETA = 1.0
        """,
    ),
    code(
        "vae",
        """
        class VAE(nn.Module):
            def __init__(self, latent_dim=LATENT_DIM):
                super().__init__()
                self.latent_dim = latent_dim
                self.encoder = nn.Sequential(
                    nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),   # 32 x 14 x 14
                    nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),  # 64 x 7 x 7
                    nn.Flatten(),
                )
                self.fc_mu = nn.Linear(64 * 7 * 7, latent_dim)
                self.fc_logvar = nn.Linear(64 * 7 * 7, latent_dim)
                self.fc_dec = nn.Linear(latent_dim, 64 * 7 * 7)
                self.decoder = nn.Sequential(
                    nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                    nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # 32 x 14 x 14
                    nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid(),                   # 1 x 28 x 28
                )

            def encode(self, x):
                h = self.encoder(x)
                return self.fc_mu(h), self.fc_logvar(h)

            def reparametrize(self, mu, logvar):
                std = torch.exp(0.5 * logvar)
                eps = torch.randn_like(std)
                return mu + eps * std

            def decode(self, z):
                return self.decoder(self.fc_dec(z))

            def forward(self, x):
                mu, logvar = self.encode(x)
                z = self.reparametrize(mu, logvar)
                return self.decode(z), mu, logvar
        """,
        skeleton="""
        class VAE(nn.Module):
            def __init__(self, latent_dim=LATENT_DIM):
                super().__init__()
                # TODO: a convolutional encoder (to mu and logvar) and decoder.
                raise NotImplementedError

            def encode(self, x):
                # TODO: return mu, logvar, each (N, latent_dim)
                raise NotImplementedError

            def reparametrize(self, mu, logvar):
                # TODO: a sample from N(mu, exp(logvar))
                raise NotImplementedError

            def decode(self, z):
                # TODO: return images (N, 1, 28, 28) in [0, 1]
                raise NotImplementedError

            def forward(self, x):
                # TODO: return reconstruction, mu, logvar
                raise NotImplementedError
        """,
    ),
    md(
        "loss-md",
        """
        ### 1.1b The loss (3 points)
        `loss_function_VAE(recon_x, x, mu, logvar, beta)`: the binary cross-entropy between `recon_x` and `x`
        plus `beta` times the KL divergence between q(z|x) = N(mu, exp(logvar)) and N(0, I), both **summed**
        over the batch. Return one scalar tensor.
        """,
    ),
    code(
        "loss",
        """
        def loss_function_VAE(recon_x, x, mu, logvar, beta):
            bce = F.binary_cross_entropy(recon_x, x, reduction='sum')
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            return bce + beta * kld
        """,
        skeleton="""
        def loss_function_VAE(recon_x, x, mu, logvar, beta):
            # TODO: reconstruction (binary cross-entropy) + beta * KL divergence, summed over the batch
            raise NotImplementedError
        """,
    ),
    md(
        "q-loss",
        """
        **1.1b Discussion (1 point).** Why is the KL term there, and what does `beta` trade off?
        """,
    ),
    md(
        "a-loss",
        """
        The KL term pulls every posterior towards the prior N(0, I), so that the latent space has no holes and
        decoding a sample of the prior gives a plausible digit. A larger `beta` makes the latent space smoother
        and closer to the prior at the cost of blurrier reconstructions; a smaller one the reverse.
        """,
        skeleton=ANSWER_STUB,
    ),
    code(
        "train-vae-fn",
        """
        # given
        def train_vae(model, epochs, lr, beta, batch_size=64):
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            history = {'train': [], 'test': []}
            for epoch in range(epochs):
                model.train()
                order = torch.randperm(len(X_train))
                total = 0.0
                for i in range(0, len(X_train), batch_size):
                    xb = X_train[order[i:i + batch_size]].to(device)
                    recon, mu, logvar = model(xb)
                    loss = loss_function_VAE(recon, xb, mu, logvar, beta)
                    optimizer.zero_grad()
                    (loss / len(xb)).backward()
                    optimizer.step()
                    total += loss.item()
                model.eval()
                with torch.no_grad():
                    recon, mu, logvar = model(X_test.to(device))
                    test = loss_function_VAE(recon, X_test.to(device), mu, logvar, beta).item()
                history['train'].append(total / len(X_train))
                history['test'].append(test / len(X_test))
                if (epoch + 1) % 5 == 0:
                    print(f'epoch {epoch + 1:3d}  train loss {history["train"][-1]:.2f}  test loss {history["test"][-1]:.2f}')
            return history
        """,
    ),
    code(
        "train-vae",
        """
        # given: train, then save the model you submit
        torch.manual_seed(0)
        vae = VAE().to(device)
        vae_history = train_vae(vae, VAE_EPOCHS, VAE_LR, BETA)
        torch.save(vae.state_dict(), 'VAE_model.pth')
        """,
    ),
    md(
        "vae-plots-md",
        """
        ### 1.2a Loss curves (3 points)
        """,
    ),
    code(
        "vae-plots",
        """
        plt.plot(vae_history['train'], label='train')
        plt.plot(vae_history['test'], label='test')
        plt.xlabel('epoch')
        plt.ylabel('loss per image (BCE + beta KL)')
        plt.legend()
        plt.show()
        """,
    ),
    md(
        "recon-md",
        """
        ### 1.2b Reconstructions and samples (6 points)
        Show test digits with their reconstructions, and digits decoded from samples of the prior; discuss.
        """,
    ),
    code(
        "recon",
        """
        vae.eval()
        with torch.no_grad():
            recon, _, _ = vae(X_test[:50].to(device))
            samples = vae.decode(torch.randn(50, vae.latent_dim, device=device))
        show_grid(torch.cat([X_test[:50], recon.cpu()]), title='test digits (top), reconstructions (bottom)')
        show_grid(samples, title='samples from the prior')
        """,
    ),
    md(
        "a-recon",
        """
        Reconstructions keep the digit's identity and stroke, slightly blurred (the decoder predicts the mean
        pixel under a Bernoulli likelihood). Samples from the prior are mostly recognisable digits; the
        failures are blends of two classes, from regions of the latent space between clusters.
        """,
        skeleton=ANSWER_STUB,
    ),
    md(
        "tsne-md",
        """
        ### 1.3a t-SNE of the latent space (7 points) and 1.3b interpolation (4 points)
        """,
    ),
    code(
        "tsne",
        """
        with torch.no_grad():
            mu, _ = vae.encode(X_test.to(device))
        embedded = TSNE(n_components=2, init='pca', perplexity=30, random_state=0).fit_transform(mu.cpu().numpy())
        plt.scatter(embedded[:, 0], embedded[:, 1], c=y_test.numpy(), cmap='tab10', s=8)
        plt.colorbar()
        plt.title('t-SNE of the latent means (test set)')
        plt.show()
        """,
    ),
    code(
        "interp",
        """
        with torch.no_grad():
            mu, _ = vae.encode(X_test[:2].to(device))
            steps = torch.linspace(0, 1, 10, device=device).unsqueeze(1)
            path = vae.decode((1 - steps) * mu[0] + steps * mu[1])
        show_grid(path, title='interpolation between two test digits')
        """,
    ),
    md(
        "a-tsne",
        """
        The classes form clear clusters; 4/9 and 3/5/8 touch, which matches the digits that reconstructions
        confuse. With beta = 1 the clusters are packed around the origin; a small beta spreads them apart
        (better reconstructions, holes between clusters) and a large beta merges them. t-SNE preserves
        neighbourhoods, not distances or cluster sizes, so only the grouping is reliable. The interpolation
        passes through blurry mixtures where the straight line leaves the clusters seen in the t-SNE plot.
        """,
        skeleton=ANSWER_STUB,
    ),
    md(
        "part2",
        """
        ## Part 2: DCGAN (50 points)

        The same 1500 digits made CIFAR-sized: upscaled to 24 x 24 on a 32 x 32 canvas, each in a colour of
        its own on a background of its own, scaled to [-1, 1]. The generator maps noise `(N, NZ, 1, 1)` to
        images `(N, 3, 32, 32)` in [-1, 1] (a `tanh` output); the discriminator maps images to one
        probability per image. Keep `NZ = 100` and the fixed noise below (the course's 100 x 100 x 1 x 1
        latent batch): the marking draws a 10 x 10 grid from it and another from noise of its own, and
        checks that different noise gives different digits (no mode collapse). The generator and
        discriminator together must have at most **25 000 000 parameters**.
        """,
    ),
    code(
        "gan-data",
        """
        # given
        NZ = 100
        FIXED_NOISE_SEED = 2026
        COLOUR_SEED = 7
        to_cifar = transforms.Compose([
            transforms.Resize((24, 24), antialias=False),  # bilinear
            transforms.Pad(4),                             # 32 x 32
        ])
        shapes = to_cifar(raw[:N_DEV]).clamp(0, 1)  # N x 1 x 32 x 32: where the ink is
        colours = torch.tensor(np.random.default_rng(COLOUR_SEED).uniform(0, 1, (N_DEV, 2, 3, 1, 1)), dtype=torch.float32)
        ink, paper = 0.4 + 0.6 * colours[:, 0], 0.4 * colours[:, 1]  # bright ink on a darker background
        normalise = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        gan_images = normalise(paper + (ink - paper) * shapes)  # N x 3 x 32 x 32 in [-1, 1]
        fixed_noise = torch.tensor(np.random.default_rng(FIXED_NOISE_SEED).standard_normal((100, NZ, 1, 1)),
                                   dtype=torch.float32)
        """,
    ),
    code(
        "gan-hyper",
        """
        # Hyper-parameters: change them if you like.
        GAN_EPOCHS = 15
        GAN_LR = 4e-4
        GAN_BATCH_SIZE = 64
        """,
    ),
    md(
        "gan-md",
        """
        ### 2.1a Generator and discriminator (8 points), 2.1b training (12 points)
        """,
    ),
    code(
        "gan",
        """
        class Generator(nn.Module):
            def __init__(self, nz=NZ, ngf=64):
                super().__init__()
                self.main = nn.Sequential(
                    nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),       # 4 x 4
                    nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),  # 8 x 8
                    nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 16 x 16
                    nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Tanh(),                                     # 32 x 32
                )

            def forward(self, z):
                return self.main(z)


        class Discriminator(nn.Module):
            def __init__(self, ndf=64):
                super().__init__()
                self.main = nn.Sequential(
                    nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),                                # 16 x 16
                    nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),      # 8 x 8
                    nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),  # 4 x 4
                    nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
                )

            def forward(self, x):
                return self.main(x).view(-1)
        """,
        skeleton="""
        class Generator(nn.Module):
            def __init__(self, nz=NZ):
                super().__init__()
                # TODO: transposed convolutions from (N, NZ, 1, 1) to (N, 3, 32, 32), tanh output
                raise NotImplementedError

            def forward(self, z):
                raise NotImplementedError


        class Discriminator(nn.Module):
            def __init__(self):
                super().__init__()
                # TODO: convolutions from (N, 3, 32, 32) to one probability per image
                raise NotImplementedError

            def forward(self, x):
                raise NotImplementedError
        """,
    ),
    code(
        "train-gan-fn",
        """
        def train_gan(G, D, epochs, lr, batch_size):
            criterion = nn.BCELoss()
            opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
            opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
            history = {'D': [], 'G': []}
            for epoch in range(epochs):
                order = torch.randperm(len(gan_images))
                for i in range(0, len(gan_images), batch_size):
                    real = gan_images[order[i:i + batch_size]].to(device)
                    n = len(real)
                    # Discriminator: real -> 0.9 (one-sided label smoothing), fake -> 0.
                    fake = G(torch.randn(n, NZ, 1, 1, device=device))
                    loss_d = criterion(D(real), torch.full((n,), 0.9, device=device)) + \\
                        criterion(D(fake.detach()), torch.zeros(n, device=device))
                    opt_d.zero_grad()
                    loss_d.backward()
                    opt_d.step()
                    # Generator: make the discriminator say "real" (the non-saturating loss).
                    loss_g = criterion(D(fake), torch.ones(n, device=device))
                    opt_g.zero_grad()
                    loss_g.backward()
                    opt_g.step()
                    history['D'].append(loss_d.item())
                    history['G'].append(loss_g.item())
                if (epoch + 1) % 5 == 0:
                    print(f'epoch {epoch + 1:3d}  D loss {loss_d.item():.3f}  G loss {loss_g.item():.3f}')
            return history
        """,
        skeleton="""
        def train_gan(G, D, epochs, lr, batch_size):
            history = {'D': [], 'G': []}
            # TODO: alternate discriminator and generator updates; record both losses in history.
            raise NotImplementedError
        """,
    ),
    code(
        "train-gan",
        """
        # given: train, then save the models you submit
        torch.manual_seed(0)
        G = Generator().to(device)
        D = Discriminator().to(device)
        print('parameters:', sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters()))
        gan_history = train_gan(G, D, GAN_EPOCHS, GAN_LR, GAN_BATCH_SIZE)
        torch.save(G.state_dict(), 'GAN_G_model.pth')
        torch.save(D.state_dict(), 'GAN_D_model.pth')
        """,
    ),
    md(
        "samples-md",
        """
        ### 2.1c Generated images (10 points), 2.2 loss plot (5 points)
        """,
    ),
    code(
        "gan-samples",
        """
        G.eval()
        with torch.no_grad():
            show_grid(G(fixed_noise.to(device)), title='samples from the fixed noise', value_range=(-1, 1))
        plt.plot(gan_history['D'], label='discriminator')
        plt.plot(gan_history['G'], label='generator')
        plt.axhline(2 * np.log(2), ls='--', c='gray', label='D loss at the optimum (2 log 2)')
        plt.xlabel('step')
        plt.legend()
        plt.show()
        """,
    ),
    md(
        "a-gan",
        """
        At the theoretical optimum the discriminator outputs 1/2 everywhere, so its loss is 2 log 2 = 1.39
        and the generator's log 2 = 0.69; our losses oscillate around these values, the discriminator's
        slightly lower because of label smoothing. Engineering features: one-sided label smoothing, Adam with
        beta1 = 0.5, batch normalisation in both networks and the non-saturating generator loss.
        """,
        skeleton=ANSWER_STUB,
    ),
    md(
        "q-collapse",
        """
        ### 2.3 Mode collapse (5 points)
        Did your generator collapse onto a few digits? How did you check, and what did you do about it?
        """,
    ),
    md(
        "a-collapse",
        """
        The fixed-noise grid shows all ten classes with varied strokes, so there was no collapse. An earlier
        run without label smoothing and with a higher learning rate produced mostly 1s and 7s after 40 epochs;
        label smoothing and a lower learning rate fixed it.
        """,
        skeleton=ANSWER_STUB,
    ),
]


def build(which: str) -> nbformat.NotebookNode:
    return build_notebook(CELLS, which)


NOTEBOOK = "cw2.ipynb"
MODEL_FILES = ("VAE_model.pth", "GAN_G_model.pth", "GAN_D_model.pth")


def main(out_dir: Path = HERE) -> int:
    for path in write_notebooks(CELLS, out_dir):
        print(f"wrote {path}")
    # The blank submission (for `grader rubric check`): the skeleton, with empty model files.
    skeleton = (out_dir / "skeleton.ipynb").read_bytes()
    write_zip(out_dir / "skeleton.zip", {NOTEBOOK: skeleton, **{name: b"" for name in MODEL_FILES}})
    print(f"wrote {out_dir / 'skeleton.zip'} (solution.zip: train_reference.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
