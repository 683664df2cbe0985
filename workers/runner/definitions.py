"""What of a student's cell may run, decided on the source and its AST. Pure functions, no I/O.

Every mode drops, and logs for the marker:
- IPython syntax: shell lines (``!pip install``), line magics (``%matplotlib``), ``x = !ls``,
  ``obj?``, and cell magics (``%%bash``...). ``%%capture`` and ``%%time`` only wrap Python, so
  their line goes and the body stays.
- Colab-only code at the top level: ``from google.colab import drive``, ``drive.mount(...)`` and
  anything else that uses a name bound by a ``google.colab`` import.

``definitions`` mode then keeps only the top-level statements that define things: imports,
functions, classes, assignments, and blocks made of those. A statement is dropped (with its
reason) when the part of it that runs now contains a loop, a training call (``.backward()``,
``.step()``, ``fit(...)``, ``train(...)``, ``main()``), a download (``download=True``,
``urlretrieve``...), or a file write that could overwrite the submitted files (``torch.save``).
Function bodies are not "the part that runs now": a ``def train():`` with a loop inside is kept.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_MAGIC_METHODS = {
    "system": "shell command",
    "getoutput": "shell command",
    "run_line_magic": "IPython magic",
    "run_cell_magic": "IPython cell magic",
}
_TRANSPARENT_CELL_MAGICS = {"capture", "time"}
_COLAB_ALWAYS = {("drive", "mount"), ("drive", "flush_and_unmount")}

_TRAIN_NAMES = {"backward", "step", "main", "fit", "train", "partial_fit", "finetune", "fine_tune"}
_NOT_TRAINING = {"train_test_split"}
_TRAIN_RE = re.compile(r"^(train|fit|finetune|fine_tune)_|_(train|fit|training)$|^(run|do|start)_?train")
_DOWNLOAD_NAMES = {
    "urlretrieve",
    "urlopen",
    "download",
    "download_url",
    "download_and_extract_archive",
    "download_file_from_google_drive",
    "hf_hub_download",
    "snapshot_download",
    "load_state_dict_from_url",
    "download_url_to_file",
}
_DOWNLOAD_DOTTED = ("requests.get", "requests.post", "hub.load", "wget.download", "gdown.download")
_DOWNLOAD_KEYWORDS = {"download", "pretrained"}
_SAVE_NAMES = {"save", "savez", "savez_compressed", "save_model", "save_pretrained", "save_weights", "save_state_dict"}
_SAVE_DOTTED = ("joblib.dump", "pickle.dump")
# Calls that end or kill the kernel: never a definition, and never replayed after a restart.
_EXIT_DOTTED = {
    "exit",
    "quit",
    "sys.exit",
    "os._exit",
    "os.abort",
    "os.kill",
    "os.killpg",
    "signal.raise_signal",
    "os.system",
    "subprocess.run",
    "subprocess.call",
    "subprocess.Popen",
}
_OFFLINE = ": no network in the sandbox, so it cannot run during grading"
_DATA_WORDS = re.compile(r"loader|dataset|data|batch|epoch", re.I)


@dataclass(frozen=True)
class Skip:
    line: int  # 1-based line in the cell
    source: str  # the line (or first line) as the student wrote it
    reason: str


@dataclass(frozen=True)
class Statement:
    source: str  # runnable on its own
    line: int
    reason: str | None  # why ``definitions`` mode drops it; None: kept

    @property
    def keep(self) -> bool:
        return self.reason is None


@dataclass
class PreparedCell:
    code: str  # what ``full`` mode runs: the cell without IPython syntax and Colab-only code
    statements: list[Statement] = field(default_factory=list)  # top-level, with the definitions verdict
    skipped: list[Skip] = field(default_factory=list)  # removed in every mode
    error: str | None = None  # the cell does not parse (``full`` mode still runs it, to show the error)

    @property
    def definitions(self) -> list[str]:
        return [s.source for s in self.statements if s.keep]

    @property
    def dropped(self) -> list[Statement]:
        return [s for s in self.statements if not s.keep]


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _ipython_to_python(source: str) -> str:
    """IPython syntax -> plain calls on get_ipython(), line numbers kept (IPython's own transformer)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager, leading_empty_lines
    except ImportError:  # no IPython: plain Python is all we can run anyway
        return source
    manager = TransformerManager()
    # Dropping leading blank lines would shift every line number we report.
    manager.cleanup_transforms = [t for t in manager.cleanup_transforms if t is not leading_empty_lines]
    try:
        return manager.transform_cell(source)
    except Exception:
        return source


def _magic_call(node: ast.AST) -> tuple[str, str] | None:
    """``get_ipython().<method>(args...)`` -> (reason, magic name)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _MAGIC_METHODS
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        name = ""
        if node.func.attr.startswith("run_") and node.args and isinstance(node.args[0], ast.Constant):
            name = str(node.args[0].value)
        return _MAGIC_METHODS[node.func.attr], name
    return None


def _own_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Nodes of ``stmt`` itself, not of the statements nested in its body."""
    stack = list(ast.iter_child_nodes(stmt))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _all_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        for name in ("body", "orelse", "finalbody"):
            yield from _all_statements(getattr(stmt, name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _all_statements(handler.body)
        for case in getattr(stmt, "cases", []) or []:
            yield from _all_statements(case.body)


def _colab_import(stmt: ast.stmt) -> list[str] | None:
    """Names bound by a google.colab import, or None if ``stmt`` is not one."""
    if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[:2] == ["google", "colab"]:
        return [a.asname or a.name for a in stmt.names]
    if isinstance(stmt, ast.Import) and any(a.name.split(".")[:2] == ["google", "colab"] for a in stmt.names):
        return [a.asname or a.name.split(".")[0] for a in stmt.names]
    return None


def _uses_colab(stmt: ast.stmt, colab_names: set[str]) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False  # a definition that mentions Colab only fails if it is called
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and node.id in colab_names:
            return True
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in _COLAB_ALWAYS
        ):
            return True
    return False


def _line_of(lines: list[str], lineno: int) -> str:
    return lines[lineno - 1] if 0 < lineno <= len(lines) else ""


def _blank_spans(code: str, spans: list[tuple[int, int, int, int]]) -> str:
    """Replace each (line, col, end_line, end_col) span with ``pass``, keeping line numbers.

    Columns are UTF-8 byte offsets, as the ast module gives them.
    """
    lines = [ln.encode() for ln in code.splitlines(keepends=True)]
    for l0, c0, l1, c1 in sorted(spans, reverse=True):
        first, last = lines[l0 - 1], lines[l1 - 1]
        lines[l0 - 1] = first[:c0] + b"pass" + b"\n" * (l1 - l0) + last[c1:]
        del lines[l0:l1]
    return b"".join(lines).decode()


def _span(stmt: ast.stmt) -> tuple[int, int, int, int]:
    """(line, col, end_line, end_col) of a parsed statement."""
    assert stmt.end_lineno is not None and stmt.end_col_offset is not None  # ast.parse sets both
    return stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset


def _segment(code_lines: list[str], stmt: ast.stmt) -> str:
    """The statement's own source, decorators included; unparsed if it shares a line with another."""
    start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    assert stmt.end_lineno is not None and stmt.end_col_offset is not None  # ast.parse sets both
    last = code_lines[stmt.end_lineno - 1].encode()
    tail = last[stmt.end_col_offset :].decode(errors="replace").strip()
    if stmt.col_offset != 0 or (tail and not tail.startswith("#")):
        return ast.unparse(stmt)
    return "".join(code_lines[start - 1 : stmt.end_lineno]).rstrip() + "\n"


# --- the definitions filter ---------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


def _executed_now(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Nodes evaluated when ``stmt`` runs: not function or lambda bodies (decorators and defaults are)."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _call_reason(call: ast.Call) -> str | None:
    dotted = _dotted(call.func)
    last = dotted.rsplit(".", 1)[-1]
    shown = f"{dotted}()" if dotted else "call"
    for kw in call.keywords:
        if kw.arg in _DOWNLOAD_KEYWORDS and isinstance(kw.value, ast.Constant) and kw.value.value:
            return f"download ({kw.arg}={kw.value.value!r}){_OFFLINE}"
    if dotted in _EXIT_DOTTED:
        return f"ends or signals processes ({shown})"
    if last in _DOWNLOAD_NAMES or dotted.endswith(_DOWNLOAD_DOTTED):
        return f"download ({shown}){_OFFLINE}"
    if last in _SAVE_NAMES or dotted.endswith(_SAVE_DOTTED):
        return f"writes files ({shown}); could overwrite submitted files"
    if last not in _NOT_TRAINING and (last in _TRAIN_NAMES or _TRAIN_RE.search(last)):
        if last == "main":  # a bare main() runs "everything"; module.main() is someone else's
            return None if isinstance(call.func, ast.Attribute) else "runs main()"
        return f"training call ({shown})"
    return None


def _comprehension_reason(node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> str | None:
    for gen in node.generators:
        names = {n.id for n in ast.walk(gen.iter) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(gen.iter) if isinstance(n, ast.Attribute)}
        if any(_DATA_WORDS.search(n) for n in names):
            return "loop over data (comprehension)"
    return None


def definition_verdict(stmt: ast.stmt) -> str | None:
    """None if ``definitions`` mode keeps this top-level statement, else why it is dropped."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return None
    for node in _executed_now(stmt):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            return "loop"
        if isinstance(node, ast.Raise) and (
            node is stmt
            or "SystemExit"
            in _dotted(node.exc.func if isinstance(node.exc, ast.Call) else node.exc or ast.Name("", ast.Load()))
        ):
            return "raise at top level"
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            reason = _comprehension_reason(node)
            if reason:
                return reason
        if isinstance(node, ast.Call):
            reason = _call_reason(node)
            if reason:
                return reason
    return None


# --- one cell -----------------------------------------------------------------------------------


def prepare_cell(source: str, colab_names: set[str] | None = None) -> PreparedCell:
    """Split one code cell into what may run. ``colab_names`` carries Colab-bound names across cells."""
    colab_names = set() if colab_names is None else colab_names
    original = source.splitlines()
    skipped: list[Skip] = []

    # Cell magics: transparent ones lose their first line, the rest skip the whole cell.
    head = next((i for i, ln in enumerate(original) if ln.strip()), None)
    if head is not None and original[head].lstrip().startswith("%%"):
        words = original[head].lstrip()[2:].split(maxsplit=1)
        name = words[0] if words else ""
        if name not in _TRANSPARENT_CELL_MAGICS:
            return PreparedCell(
                code="", skipped=[Skip(head + 1, _first_line(original[head]), f"cell magic %%{name} is not run")]
            )
        skipped.append(Skip(head + 1, _first_line(original[head]), f"cell magic %%{name} removed; its body runs"))
        lines = source.splitlines(keepends=True)
        lines[head] = "\n"
        source = "".join(lines)

    transformed = _ipython_to_python(source)
    try:
        tree = ast.parse(transformed)
    except SyntaxError as e:
        return PreparedCell(code=source, skipped=skipped, error=f"SyntaxError: {e.msg} (line {e.lineno})")
    except (ValueError, RecursionError, MemoryError) as e:
        return PreparedCell(code=source, skipped=skipped, error=f"{type(e).__name__}: cannot parse the cell")

    drops: list[ast.stmt] = []
    for stmt in _all_statements(tree.body):
        magic = next((m for m in map(_magic_call, _own_nodes(stmt)) if m), None)
        if magic:
            reason, name = magic
            drops.append(stmt)
            skipped.append(
                Skip(stmt.lineno, _first_line(_line_of(original, stmt.lineno)), f"{reason} %{name}" if name else reason)
            )
    dropped_ids = {id(s) for s in drops}
    for stmt in tree.body:
        if id(stmt) in dropped_ids:
            continue
        bound = _colab_import(stmt)
        if bound is not None:
            colab_names.update(bound)
            reason = "Colab-only import"
        elif _uses_colab(stmt, colab_names):
            reason = "Colab-only call"
        else:
            continue
        drops.append(stmt)
        skipped.append(Skip(stmt.lineno, _first_line(_line_of(original, stmt.lineno)), reason))
    skipped.sort(key=lambda s: s.line)

    code = transformed if drops else source
    if drops:
        # Nested drops inside a dropped statement vanish with it: keep only the outermost spans.
        spans = sorted({_span(s) for s in drops})
        outer = [sp for sp in spans if not any(o != sp and o[:2] <= sp[:2] and o[2:] >= sp[2:] for o in spans)]
        code = _blank_spans(transformed, outer)
        try:
            ast.parse(code)
        except SyntaxError:  # a span shared a line in a way ``pass`` cannot patch: rebuild from the AST
            code = ast.unparse(_Dropper(dropped_ids).visit(tree)) + "\n"

    final = ast.parse(code)
    code_lines = code.splitlines(keepends=True)
    statements = [
        Statement(_segment(code_lines, s), s.lineno, definition_verdict(s))
        for s in final.body
        if not isinstance(s, ast.Pass)
    ]
    return PreparedCell(code=code, statements=statements, skipped=skipped)


class _Dropper(ast.NodeTransformer):
    def __init__(self, ids: set[int]):
        self.ids = ids

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.stmt) and id(node) in self.ids:
            return ast.copy_location(ast.Pass(), node)
        return super().generic_visit(node)
