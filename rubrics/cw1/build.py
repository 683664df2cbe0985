"""Build the CW1 sample notebooks: ``skeleton.ipynb`` (what students get) and ``solution.ipynb``.

    .venv/bin/python rubrics/cw1/build.py

Both notebooks come from one list of cells: a cell is markdown, given code (the same in both), or
a task (the skeleton's stub and the solution's code). Cell ids are fixed, so the output is stable and
``tests/cw1_submissions.py`` can find cells by id. Students submit the notebook as ``cw1.ipynb``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.rubrics.authoring import ANSWER_STUB, Cell, build_notebook, code, md, write_notebooks

HERE = Path(__file__).resolve().parent


def digits_cell(path: Path = HERE / "digits.py") -> str:
    """The notebook's copy of the course's digit generator: ``digits.py`` without its docstring, so that
    students train on exactly what the hidden test set is drawn from (with another seed)."""
    source = path.read_text()
    body = source[source.index('"""', 3) + 3 :].lstrip("\n")
    return "# given: the course's digit generator (rubrics/cw1/digits.py)\n" + body


DIGITS_CELL = digits_cell()

CELLS: list[Cell] = [
    md(
        "intro",
        """
        # Coursework 1: Make machine learning deep

        In this coursework you implement the layers of a convolutional network **from scratch**, build a
        small ResNet from them, train it on handwritten digits, and discuss what you see.

        **Rules**
        - Implement `Conv2d`, `MaxPool2d`, `BatchNorm2d` and `Linear` as `torch.nn.Module` subclasses.
          Inside them you may use tensor operations (`matmul`, `unfold`, `pad`, `mean`, `var`, ...) and
          autograd, but **not** the library's own layers: no `nn.Conv2d`, `F.conv2d`, `nn.MaxPool2d`,
          `F.max_pool2d`, `nn.BatchNorm2d`, `F.batch_norm`, `nn.Linear` or `F.linear`.
          Using them costs a 10-point penalty, whatever the tests say.
        - Keep the class names, the constructor signatures and the parameter names given below: the
          marking creates your layers, loads weights into `weight` / `bias` (and `running_mean` /
          `running_var`), and compares them with PyTorch's layers.
        - Do not change the cells marked *given*, except where they say so.
        - Submit this notebook as **`cw1.ipynb`**. It is run from top to bottom on one CPU core, with a
          time limit per cell: training must finish in well under a minute.

        **Marks** (100): layers 42, network and test accuracy 30, discussion 28.
        """,
    ),
    code(
        "imports",
        """
        # given
        import time

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        torch.manual_seed(0)
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        print('device:', device)
        """,
    ),
    md(
        "part1",
        """
        ## Part 1: Layers (42 points)

        Each layer must behave like its PyTorch counterpart: same constructor arguments, same parameter
        shapes, same outputs, and gradients through autograd. Initialise parameters like PyTorch does
        (weights and biases uniform in $\\pm 1/\\sqrt{\\text{fan\\_in}}$ for `Conv2d` and `Linear`;
        ones and zeros for `BatchNorm2d`).

        ### 1.1 `Conv2d` (15 points)
        `Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)`, with square
        kernels (`kernel_size` an `int`), the same stride and zero padding on both axes.
        `weight` has shape `(out_channels, in_channels, kernel_size, kernel_size)`, `bias` has shape
        `(out_channels,)`, or is `None` when `bias=False`.
        Input `(N, C_in, H, W)`, output `(N, C_out, H_out, W_out)` with
        $H_{out} = \\lfloor (H + 2\\,\\text{padding} - \\text{kernel\\_size}) / \\text{stride} \\rfloor + 1$.
        """,
    ),
    code(
        "conv2d",
        '''
        class Conv2d(nn.Module):
            """2-D convolution (cross-correlation), like torch.nn.Conv2d with square kernels."""

            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
                super().__init__()
                self.in_channels = in_channels
                self.out_channels = out_channels
                self.kernel_size = kernel_size
                self.stride = stride
                self.padding = padding
                bound = 1 / (in_channels * kernel_size * kernel_size) ** 0.5
                self.weight = nn.Parameter(
                    torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound))
                if bias:
                    self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
                else:
                    self.bias = None

            def forward(self, x):
                n, _, h, w = x.shape
                k, s, p = self.kernel_size, self.stride, self.padding
                h_out = (h + 2 * p - k) // s + 1
                w_out = (w + 2 * p - k) // s + 1
                # Every receptive field as a column: (N, C_in * k * k, h_out * w_out).
                cols = F.unfold(x, (k, k), padding=p, stride=s)
                out = self.weight.reshape(self.out_channels, -1) @ cols  # (N, C_out, h_out * w_out)
                if self.bias is not None:
                    out = out + self.bias.reshape(1, -1, 1)
                return out.reshape(n, self.out_channels, h_out, w_out)
        ''',
        skeleton='''
        class Conv2d(nn.Module):
            """2-D convolution (cross-correlation), like torch.nn.Conv2d with square kernels."""

            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
                super().__init__()
                # TODO: keep the hyper-parameters; create self.weight and self.bias (nn.Parameter, or
                # None when bias=False), initialised uniformly in +-1/sqrt(in_channels * kernel_size**2).
                raise NotImplementedError

            def forward(self, x):
                # TODO: x is (N, in_channels, H, W); return (N, out_channels, H_out, W_out).
                raise NotImplementedError
        ''',
    ),
    md(
        "maxpool-md",
        """
        ### 1.2 `MaxPool2d` (7 points)
        `MaxPool2d(kernel_size, stride=None)`: the maximum over each `kernel_size x kernel_size` window;
        `stride` defaults to `kernel_size`, as in PyTorch. No padding. The gradient flows to the maximum
        of each window.
        """,
    ),
    code(
        "maxpool2d",
        '''
        class MaxPool2d(nn.Module):
            """2-D max pooling, like torch.nn.MaxPool2d without padding or dilation."""

            def __init__(self, kernel_size, stride=None):
                super().__init__()
                self.kernel_size = kernel_size
                self.stride = kernel_size if stride is None else stride

            def forward(self, x):
                k, s = self.kernel_size, self.stride
                # (N, C, h_out, w_out, k, k): one k x k window per output position.
                windows = x.unfold(2, k, s).unfold(3, k, s)
                return windows.flatten(-2).amax(dim=-1)
        ''',
        skeleton='''
        class MaxPool2d(nn.Module):
            """2-D max pooling, like torch.nn.MaxPool2d without padding or dilation."""

            def __init__(self, kernel_size, stride=None):
                super().__init__()
                # TODO
                pass

            def forward(self, x):
                # TODO: x is (N, C, H, W); return (N, C, H_out, W_out).
                raise NotImplementedError
        ''',
    ),
    md(
        "batchnorm-md",
        """
        ### 1.3 `BatchNorm2d` (11 points)
        `BatchNorm2d(num_features, eps=1e-5, momentum=0.1)`, with learnable `weight` (ones) and `bias`
        (zeros) of shape `(num_features,)` and buffers `running_mean` (zeros) and `running_var` (ones)
        registered with `register_buffer`.
        - Training mode (`model.train()`): normalise with the statistics of the batch (over N, H and W;
          the biased variance) and update the running statistics,
          `running = (1 - momentum) * running + momentum * batch_statistic`, using the **unbiased**
          variance of the batch for `running_var`, as PyTorch does.
        - Evaluation mode (`model.eval()`): normalise with the running statistics; change nothing.
        """,
    ),
    code(
        "batchnorm2d",
        '''
        class BatchNorm2d(nn.Module):
            """Batch normalisation over (N, H, W) for each channel, like torch.nn.BatchNorm2d."""

            def __init__(self, num_features, eps=1e-5, momentum=0.1):
                super().__init__()
                self.num_features = num_features
                self.eps = eps
                self.momentum = momentum
                self.weight = nn.Parameter(torch.ones(num_features))
                self.bias = nn.Parameter(torch.zeros(num_features))
                self.register_buffer('running_mean', torch.zeros(num_features))
                self.register_buffer('running_var', torch.ones(num_features))

            def forward(self, x):
                if self.training:
                    mean = x.mean(dim=(0, 2, 3))
                    var = x.var(dim=(0, 2, 3), unbiased=False)
                    n = x.numel() // x.shape[1]
                    with torch.no_grad():
                        self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                        unbiased = var * n / max(n - 1, 1)
                        self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
                else:
                    mean, var = self.running_mean, self.running_var
                x_hat = (x - mean.reshape(1, -1, 1, 1)) / torch.sqrt(var.reshape(1, -1, 1, 1) + self.eps)
                return x_hat * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)
        ''',
        skeleton='''
        class BatchNorm2d(nn.Module):
            """Batch normalisation over (N, H, W) for each channel, like torch.nn.BatchNorm2d."""

            def __init__(self, num_features, eps=1e-5, momentum=0.1):
                super().__init__()
                # TODO: weight, bias (nn.Parameter) and the buffers running_mean, running_var.
                raise NotImplementedError

            def forward(self, x):
                # TODO: batch statistics (and running-statistics update) in training mode,
                # running statistics in evaluation mode (self.training tells which).
                raise NotImplementedError
        ''',
    ),
    md(
        "linear-md",
        """
        ### 1.4 `Linear` (5 points)
        `Linear(in_features, out_features, bias=True)`: `y = x W^T + b`, with `weight` of shape
        `(out_features, in_features)` and `bias` of shape `(out_features,)` or `None`.

        Gradients (4 points) are checked for every layer: with autograd they come for free if the
        forward pass is right.
        """,
    ),
    code(
        "linear",
        '''
        class Linear(nn.Module):
            """Fully connected layer, like torch.nn.Linear."""

            def __init__(self, in_features, out_features, bias=True):
                super().__init__()
                self.in_features = in_features
                self.out_features = out_features
                bound = 1 / in_features ** 0.5
                self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
                if bias:
                    self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
                else:
                    self.bias = None

            def forward(self, x):
                out = x @ self.weight.t()
                if self.bias is not None:
                    out = out + self.bias
                return out
        ''',
        skeleton='''
        class Linear(nn.Module):
            """Fully connected layer, like torch.nn.Linear."""

            def __init__(self, in_features, out_features, bias=True):
                super().__init__()
                # TODO
                raise NotImplementedError

            def forward(self, x):
                # TODO
                raise NotImplementedError
        ''',
    ),
    md(
        "part2",
        """
        ## Part 2: A small ResNet (30 points)

        Build `SmallResNet`, a simplified ResNet-18 for 1 x 8 x 8 images and 10 classes, **from your own
        layers** (`Conv2d`, `BatchNorm2d`, `Linear`; `F.relu`, `nn.Sequential` and tensor means are fine).
        A suggestion: a 3 x 3 convolution stem, one or two residual blocks (two 3 x 3 convolutions with
        batch norm, and a 1 x 1 convolution on the shortcut when the shape changes), global average
        pooling and a linear classifier. With 8 x 8 inputs the stem's max-pooling of ResNet-18 is not
        needed. `SmallResNet()` must take no required arguments and return logits of shape `(N, 10)`.

        The trained network must be left in the global variable `model` (the training cell below does
        this). It is marked on a hidden test set of digits you never see: 26 points in bands of
        test accuracy, 4 points for a network that runs and is built from your layers.
        """,
    ),
    code(
        "model",
        """
        class ResidualBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
                self.bn1 = BatchNorm2d(out_channels)
                self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
                self.bn2 = BatchNorm2d(out_channels)
                if stride != 1 or in_channels != out_channels:
                    self.shortcut = nn.Sequential(
                        Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                        BatchNorm2d(out_channels),
                    )
                else:
                    self.shortcut = nn.Identity()

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                return F.relu(out + self.shortcut(x))


        class SmallResNet(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.stem = nn.Sequential(Conv2d(1, 16, 3, padding=1, bias=False), BatchNorm2d(16), nn.ReLU())
                self.layer1 = ResidualBlock(16, 16)
                self.layer2 = ResidualBlock(16, 32, stride=2)
                self.fc = Linear(32, num_classes)

            def forward(self, x):
                x = self.stem(x)            # 16 x 8 x 8
                x = self.layer1(x)          # 16 x 8 x 8
                x = self.layer2(x)          # 32 x 4 x 4
                x = x.mean(dim=(2, 3))      # global average pooling
                return self.fc(x)
        """,
        skeleton="""
        class SmallResNet(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                # TODO: build the network from your Conv2d, BatchNorm2d and Linear.
                raise NotImplementedError

            def forward(self, x):
                # TODO: x is (N, 1, 8, 8); return logits (N, num_classes).
                raise NotImplementedError
        """,
    ),
    md(
        "data-md",
        """
        ### Data (given)
        The course's digits: grey-scale 8 x 8 images in [0, 1], each one of the ten digits drawn in one of
        matplotlib's fonts, with a random stroke thickness, rotation, scale, shear and shift, and a little
        noise. `make_digits(n, seed)` below draws `n` of them, the same ones for the same seed. You get
        1500 from the public seed `TRAIN_SEED`, split into training and validation sets (you may draw more
        from other seeds if you like). **The hidden test set comes from the same generator with a secret
        seed**: digits you never see, so it measures how well your network generalises. The training loop
        below also augments the training images with random shifts.
        """,
    ),
    code("digits", DIGITS_CELL),
    code(
        "data",
        """
        # given
        TRAIN_SEED = 2026  # public; the hidden test set uses a secret one
        N_TRAIN, N_VAL = 1200, 300
        digit_images, digit_labels = make_digits(N_TRAIN + N_VAL, seed=TRAIN_SEED)
        images = torch.tensor(digit_images).unsqueeze(1)  # N x 1 x 8 x 8, in [0, 1]
        labels = torch.tensor(digit_labels)
        X_train, y_train = images[:N_TRAIN], labels[:N_TRAIN]
        X_val, y_val = images[N_TRAIN:], labels[N_TRAIN:]
        print('train', tuple(X_train.shape), 'validation', tuple(X_val.shape))
        """,
    ),
    code(
        "train-fn",
        """
        # given
        def random_shift(x, max_shift=1):
            \"\"\"Shift each image by up to max_shift pixels along each axis (zero fill).\"\"\"
            n, _, h, w = x.shape
            padded = F.pad(x, (max_shift,) * 4)
            dy = torch.randint(0, 2 * max_shift + 1, (n,)).tolist()
            dx = torch.randint(0, 2 * max_shift + 1, (n,)).tolist()
            return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


        def evaluate(model, X, y, batch_size=500):
            model.eval()
            total_loss, correct = 0.0, 0
            with torch.no_grad():
                for i in range(0, len(X), batch_size):
                    xb, yb = X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
                    out = model(xb)
                    total_loss += F.cross_entropy(out, yb, reduction='sum').item()
                    correct += (out.argmax(1) == yb).sum().item()
            return total_loss / len(X), correct / len(X)


        def train(model, epochs, lr, batch_size, weight_decay, augment=True):
            optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
            steps = epochs * ((len(X_train) + batch_size - 1) // batch_size)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
            history = {'train_loss': [], 'train_acc': [], 'val_loss': [], 'val_acc': []}
            for epoch in range(epochs):
                model.train()
                order = torch.randperm(len(X_train))
                total_loss, correct = 0.0, 0
                for i in range(0, len(X_train), batch_size):
                    idx = order[i:i + batch_size]
                    xb, yb = X_train[idx], y_train[idx]
                    if augment:
                        xb = random_shift(xb)
                    xb, yb = xb.to(device), yb.to(device)
                    out = model(xb)
                    loss = F.cross_entropy(out, yb)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    scheduler.step()
                    total_loss += loss.item() * len(idx)
                    correct += (out.argmax(1) == yb).sum().item()
                val_loss, val_acc = evaluate(model, X_val, y_val)
                history['train_loss'].append(total_loss / len(X_train))
                history['train_acc'].append(correct / len(X_train))
                history['val_loss'].append(val_loss)
                history['val_acc'].append(val_acc)
                print(f'epoch {epoch + 1:2d}  train loss {total_loss / len(X_train):.3f} '
                      f'acc {correct / len(X_train):.3f}  val loss {val_loss:.3f} acc {val_acc:.3f}')
            return history
        """,
    ),
    code(
        "hyper",
        """
        # Hyper-parameters: change them if you like (training must stay well under a minute on one CPU core).
        EPOCHS = 15
        LR = 5e-3
        BATCH_SIZE = 64
        WEIGHT_DECAY = 1e-4
        """,
    ),
    code(
        "train",
        """
        # given
        model = SmallResNet().to(device)
        print(sum(p.numel() for p in model.parameters()), 'parameters')
        start = time.time()
        history = train(model, EPOCHS, LR, BATCH_SIZE, WEIGHT_DECAY)
        print(f'trained in {time.time() - start:.1f}s')
        """,
    ),
    code(
        "plot",
        """
        # given
        epochs = range(1, len(history['train_loss']) + 1)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(epochs, history['train_loss'], label='train')
        ax1.plot(epochs, history['val_loss'], label='validation')
        ax1.set_xlabel('epoch')
        ax1.set_ylabel('cross-entropy loss')
        ax1.legend()
        ax2.plot(epochs, history['train_acc'], label='train')
        ax2.plot(epochs, history['val_acc'], label='validation')
        ax2.set_xlabel('epoch')
        ax2.set_ylabel('accuracy')
        ax2.legend()
        plt.tight_layout()
        plt.show()
        """,
    ),
    md(
        "part3",
        """
        ## Part 3: Discussion (28 points, marked by hand)

        Answer in the markdown cells below, a paragraph or two each. Refer to your own plots and numbers.
        """,
    ),
    md(
        "q-curves",
        """
        **3.1 Training curves (10 points).** Describe the training and validation curves above. Does the
        network under- or over-fit, and where do you see it? Why does the validation accuracy lag behind
        the training accuracy and jump around in the early epochs, and why can the validation loss end
        below the training loss?
        """,
    ),
    md(
        "a-curves",
        """
        The first epoch barely moves (the one-cycle schedule starts at 1/25 of the peak learning rate);
        then the training loss falls steeply until about epoch 5 and slowly afterwards, as the learning rate
        anneals, ending near 0.07 with the validation loss close to it and validation accuracy near 98 %.
        There is no sign of over-fitting: the validation loss never turns upwards, helped by the
        augmentation, weight decay and a network of only ~20k parameters. In epochs 4-8, near the peak
        learning rate, the validation accuracy lags and wobbles (0.79-0.89 while training climbs to 0.93):
        evaluation uses batch norm's running statistics, which average over past batches (momentum 0.1) and
        trail weights that are still changing fast. At the end the validation loss is below the training
        loss because training images are shifted (harder) and the training loss is averaged over an epoch
        in which the network was still improving.
        """,
        skeleton=ANSWER_STUB,
    ),
    md(
        "q-design",
        """
        **3.2 Design choices (10 points).** Justify your architecture and hyper-parameters: depth and
        width, residual connections, batch normalisation, the optimiser and learning-rate schedule, data
        augmentation. What did you try, and what changed?
        """,
    ),
    md(
        "a-design",
        """
        The 8 x 8 input only supports a shallow network: a 3 x 3 stem, one block at full resolution and one
        that halves it (to 4 x 4) while doubling the channels, then global average pooling, which makes
        the classifier insensitive to where the digit sits. Residual connections and batch norm let the
        network train at a high learning rate from the first step. Adam with a one-cycle schedule reaches
        its best accuracy in 15 epochs (~8 s on one core): about 98 % on freshly drawn digits, 74 % after
        3 epochs. The random one-pixel shifts make little difference here (98 % without them too): the
        generator already moves, rotates, shears and thickens every digit, so the data carry that variety.
        """,
        skeleton=ANSWER_STUB,
    ),
    md(
        "q-bn",
        """
        **3.3 Batch normalisation (8 points).** Explain why `BatchNorm2d` behaves differently in training
        and evaluation mode. What would go wrong at test time if the running statistics were never
        updated, or if the batch statistics were used in evaluation mode?
        """,
    ),
    md(
        "a-bn",
        """
        In training the batch statistics normalise each batch (and their noise regularises); at test time
        a prediction must not depend on the other images of its batch, and batches may have one image, so
        the running averages estimated during training are used. Running statistics that were never updated
        stay at mean 0 and variance 1, so evaluation-mode activations have a different scale and offset
        than the network was trained with, and the accuracy collapses. Batch statistics in evaluation
        mode make predictions depend on the batch, fail for a single image, and break on small or
        unbalanced batches.
        """,
        skeleton=ANSWER_STUB,
    ),
]


def build(which: str) -> nbformat.NotebookNode:
    return build_notebook(CELLS, which)


def main(out_dir: Path = HERE) -> int:
    for path in write_notebooks(CELLS, out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
