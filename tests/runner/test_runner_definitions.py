"""The cell filter: what runs in every mode, and what ``definitions`` mode keeps. Pure, no kernel."""

from __future__ import annotations

import ast

import pytest

from workers.runner.definitions import definition_verdict, prepare_cell

OFFLINE = ": no network in the sandbox, so it cannot run during grading"


def verdict(src: str) -> str | None:
    (stmt,) = ast.parse(src).body
    return definition_verdict(stmt)


def kept(src: str) -> list[str]:
    return [s.source.strip() for s in prepare_cell(src).statements if s.keep]


# --- every mode: IPython syntax and Colab -------------------------------------------------------


def test_shell_and_line_magics_are_removed_and_logged():
    cell = prepare_cell("!pip install torchsummary\n%matplotlib inline\nimport numpy as np\nx = !ls\n")
    assert [(s.line, s.source, s.reason) for s in cell.skipped] == [
        (1, "!pip install torchsummary", "shell command"),
        (2, "%matplotlib inline", "IPython magic %matplotlib"),
        (4, "x = !ls", "shell command"),
    ]
    assert ast.parse(cell.code)  # plain Python, same line numbers
    assert cell.code.splitlines()[2] == "import numpy as np"
    assert cell.definitions == ["import numpy as np\n"]


def test_magic_inside_a_block_becomes_pass():
    cell = prepare_cell("if True:\n    !echo hi\n    y = 2\n")
    assert cell.code == "if True:\n    pass\n    y = 2\n"
    assert cell.skipped[0].line == 2


def test_capture_and_time_cells_keep_their_body():
    cell = prepare_cell("%%capture\n!pip install foo\nimport numpy as np\n")
    assert [s.reason for s in cell.skipped] == ["cell magic %%capture removed; its body runs", "shell command"]
    assert cell.definitions == ["import numpy as np\n"]
    assert prepare_cell("%%time\nz = 1\n").definitions == ["z = 1\n"]


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile utils.py", "%%html", "%%timeit", "%%shell"])
def test_other_cell_magics_skip_the_whole_cell(magic):
    cell = prepare_cell(f"{magic}\nprint('x')\n")
    assert cell.code == "" and cell.statements == []
    assert cell.skipped[0].reason.startswith("cell magic")


def test_help_syntax_is_removed():
    assert prepare_cell("model?\n").skipped[0].reason == "IPython magic %pinfo"


def test_magic_looking_text_in_a_string_is_left_alone():
    src = 's = """\n!not a command\n%not a magic\n"""\n'
    cell = prepare_cell(src)
    assert cell.code == src and cell.skipped == []


def test_colab_imports_and_calls_are_removed_across_cells():
    names: set[str] = set()
    first = prepare_cell("from google.colab import drive, files\ndrive.mount('/content/drive')\nx = 1\n", names)
    assert [s.reason for s in first.skipped] == ["Colab-only import", "Colab-only call"]
    assert first.definitions == ["x = 1\n"]
    second = prepare_cell("uploaded = files.upload()\nfiles_list = []\n", names)  # `files` from the earlier cell
    assert [s.source for s in second.skipped] == ["uploaded = files.upload()"]
    assert second.definitions == ["files_list = []\n"]


def test_colab_guarded_by_try_is_left_to_fail_naturally():
    src = "try:\n    from google.colab import drive\n    IN_COLAB = True\nexcept ImportError:\n    IN_COLAB = False\n"
    cell = prepare_cell(src)
    assert cell.skipped == [] and cell.definitions == [src]


def test_function_mentioning_colab_is_kept():
    names = {"drive"}
    assert prepare_cell("def setup():\n    drive.mount('/content')\n", names).definitions


def test_syntax_error_is_reported_not_raised():
    cell = prepare_cell("def f(:\n    pass\n")
    assert cell.error.startswith("SyntaxError") and cell.statements == []
    assert cell.code == "def f(:\n    pass\n"  # full mode runs it, so the kernel shows the error


def test_shared_line_falls_back_to_unparse():
    cell = prepare_cell("x = 1; get_ipython().system('ls'); z = 2\n")
    assert ast.parse(cell.code)
    assert [s.source.strip() for s in cell.statements] == ["x = 1", "z = 2"]


def test_blank_lines_before_a_magic_keep_line_numbers():
    cell = prepare_cell("\n\n!ls\nx = 1\n")
    assert cell.skipped[0].line == 3 and cell.statements[0].line == 4


def test_unicode_columns():
    cell = prepare_cell("s = 'héllo'; get_ipython().system('ls')\n")
    assert ast.parse(cell.code) and cell.statements[0].source.strip() == "s = 'héllo'"


# --- definitions mode ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "import torch",
        "import torch.nn as nn",
        "from torchvision import datasets, transforms",
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])",
        "BATCH_SIZE = 64",
        "classes = ('plane', 'car', 'bird')",
        "model = Net().to(device)",
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.01)",
        "criterion = nn.CrossEntropyLoss()",
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)",
        "test_set = datasets.MNIST('./data', train=False, download=False, transform=transform)",
        "n_params = sum(p.numel() for p in model.parameters())",
        "layers = [nn.Linear(8, 8) for _ in range(3)]",
        "torch.manual_seed(0)",
        "if torch.cuda.is_available():\n    device = 'cuda'",
        "model.load_state_dict(torch.load('model.pth', map_location='cpu'))",
        "plt.savefig('loss.png')",
        "print(model)",
    ],
)
def test_kept(src):
    assert verdict(src) is None


def test_functions_and_classes_are_kept_whatever_their_body():
    src = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(4)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x

@torch.no_grad()
def evaluate(model, loader):
    for x, y in loader:
        model(x)

def train(model, loader, epochs=10):
    for epoch in range(epochs):
        loss = model(x).sum()
        loss.backward()
        optimizer.step()
"""
    assert [s.keep for s in prepare_cell(src).statements] == [True, True, True]


@pytest.mark.parametrize(
    "src, reason",
    [
        ("for epoch in range(10):\n    train_one_epoch(model)", "loop"),
        ("while True:\n    pass", "loop"),
        ("with torch.no_grad():\n    for x, y in test_loader:\n        model(x)", "loop"),
        ("loss.backward()", "training call (loss.backward())"),
        ("optimizer.step()", "training call (optimizer.step())"),
        ("model.fit(X_train, y_train)", "training call (model.fit())"),
        ("history = model.fit(X, y, epochs=5)", "training call (model.fit())"),
        ("losses = train(model, train_loader)", "training call (train())"),
        ("train_model(model)", "training call (train_model())"),
        ("run_training()", "training call (run_training())"),
        ("trainer.train()", "training call (trainer.train())"),
        ("X_scaled = scaler.fit_transform(X)", "training call (scaler.fit_transform())"),
        ("train_set = datasets.MNIST('./data', train=True, download=True)", "download (download=True)" + OFFLINE),
        ("net = models.resnet18(pretrained=True)", "download (pretrained=True)" + OFFLINE),
        ("urllib.request.urlretrieve(url, 'data.zip')", "download (urllib.request.urlretrieve())" + OFFLINE),
        ("r = requests.get(url)", "download (requests.get())" + OFFLINE),
        ("torch.save(model.state_dict(), 'model.pth')", "writes files (torch.save()); could overwrite submitted files"),
        ("np.save('x.npy', x)", "writes files (np.save()); could overwrite submitted files"),
        ("if __name__ == '__main__':\n    main()", "runs main()"),
        ("accs = [evaluate(model, b) for b in test_loader]", "loop over data (comprehension)"),
        ("preds = [model(x) for x, _ in dataset]", "loop over data (comprehension)"),
        ("@register(train(model))\ndef f():\n    pass", "training call (train())"),
    ],
)
def test_dropped_with_reason(src, reason):
    assert verdict(src) == reason


def test_a_realistic_notebook_cell():
    src = """!pip install -q torchsummary
import torch
from google.colab import drive
drive.mount('/content/drive')
device = torch.device("cuda")
train_set = datasets.CIFAR10(root='./data', train=True, download=True, transform=transform)
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
for epoch in range(20):
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
torch.save(model.state_dict(), '/content/drive/MyDrive/model.pth')
"""
    cell = prepare_cell(src)
    assert [s.reason for s in cell.skipped] == ["shell command", "Colab-only import", "Colab-only call"]
    assert kept(src) == [
        "import torch",
        'device = torch.device("cuda")',
        "train_loader = DataLoader(train_set, batch_size=64, shuffle=True)",
    ]
    assert [s.reason for s in cell.dropped] == [
        "download (download=True)" + OFFLINE,
        "loop",
        "writes files (torch.save()); could overwrite submitted files",
    ]
    assert ast.parse(cell.code)  # full mode still runs the loop, without the magic and Colab lines


def test_decorated_function_source_includes_the_decorator():
    (stmt,) = prepare_cell("@torch.no_grad()\ndef f(x):\n    return x\n").statements
    assert stmt.source.startswith("@torch.no_grad()") and stmt.line == 2
