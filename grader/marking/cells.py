"""Which cells of a student's notebook answer one rubric item, for the question view.

The rubric model names no cells, so answers are found by the notebook's own headings (the
skeletons students fill in keep the marking template's section headings). The heuristic:

1. The item's section code is the first word of its title when it looks like one: ``2.1``,
   ``1.1a``, ``3.2.1`` ("2.1 Training curves discussed" -> ``2.1``).
2. A heading is a markdown line starting with ``#``..``######``. The answer starts at the first
   heading that holds the code as a whole token (``2.1`` matches "## Question 2.1: curves" and
   "### **2.1** Curves", never "12.1", "2.10", "2.1.3" or "2.1b"). Failing that, the parent code
   (``1.1a`` -> ``1.1``; never a bare ``1``, which would match any "Part 1"), then a heading that
   holds the title's words (or whose words the title holds).
3. The answer runs from that heading's cell up to (not including) the next cell whose first
   heading is of the same level or higher, at most ``MAX_CELLS`` cells.

No match: no cells, and the page says so (the whole notebook is one click away). Pure: a parsed
notebook (a dict) in, plain data out.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

MAX_CELLS = 12
MAX_TEXT = 4000  # characters of a cell's source or an output shown inline
MAX_IMAGE = 2_000_000  # base64 characters of one image shown inline

_CODE = re.compile(r"^\s*(\d+(?:\.\d+)*[a-z]?)(?=[\s:.)\-]|$)", re.I)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_WORDS = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Output:
    kind: str  # text | image | error
    text: str = ""
    mime: str = ""  # images: image/png or image/jpeg
    data: str = ""  # images: checked base64


@dataclass(frozen=True)
class AnswerCell:
    index: int
    kind: str  # markdown | code | raw
    source: str
    outputs: list[Output] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    found_by: str  # how the cells were found, for the marker ("" when nothing matched)
    cells: list[AnswerCell]


def section_code(title: str) -> str | None:
    match = _CODE.match(title)
    return match[1].lower() if match else None


def _text(value: object) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _headings(cell: object) -> list[tuple[int, str]]:
    """(level, text) of every heading line of a markdown cell, emphasis marks removed."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
        return []
    out = []
    for line in _text(cell.get("source")).splitlines():
        match = _HEADING.match(line)
        if match:
            out.append((len(match[1]), re.sub(r"[*_`]", "", match[2]).strip()))
    return out


def _has_code(heading: str, code: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(code)}(?![\w]|\.\d)", heading, re.I) is not None


def _words(text: str) -> str:
    return " ".join(_WORDS.findall(text.casefold()))


def _find_heading(cells: list, title: str) -> tuple[int, int, str] | None:
    """(cell index, level, heading text) of the item's heading, by the rules above."""
    headings = [(n, level, text) for n, cell in enumerate(cells) for level, text in _headings(cell)]
    code = section_code(title)
    codes = []
    if code:
        codes.append(code)
        parent = code.rstrip("abcdefghijklmnopqrstuvwxyz")  # 1.1a -> 1.1
        if parent == code:
            parent = code.rsplit(".", 1)[0]  # 3.2.1 -> 3.2; 2.1 -> 2 (too broad: dropped below)
        if "." in parent:
            codes.append(parent)
    for wanted in codes:
        for n, level, text in headings:
            if _has_code(text, wanted):
                return n, level, text
    numbered = _CODE.match(title)  # matches exactly when ``code`` is set
    words = _words(title[len(numbered[0]) :] if numbered else title)
    if words:
        for n, level, text in headings:
            own = _words(text)
            if f" {words} " in f" {own} " or (len(own) >= 6 and f" {own} " in f" {words} "):
                return n, level, text
    return None


def find_answer(notebook: dict, title: str) -> Answer:
    """The cells answering the item titled ``title`` in a parsed notebook (see the module's rules)."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return Answer("", [])
    found = _find_heading(cells, title)
    if found is None:
        return Answer("", [])
    start, level, text = found
    end = start + 1
    while end < len(cells) and end - start < MAX_CELLS:
        first = _headings(cells[end])
        if first and first[0][0] <= level:
            break
        end += 1
    return Answer(
        f"under the heading “{text}”", [_cell(n, cells[n]) for n in range(start, end) if isinstance(cells[n], dict)]
    )


def _cell(index: int, cell: dict) -> AnswerCell:
    cell_type = cell.get("cell_type")
    kind = cell_type if isinstance(cell_type, str) and cell_type in ("markdown", "code", "raw") else "raw"
    outputs = [o for o in map(_output, cell.get("outputs") or []) if o is not None] if kind == "code" else []
    return AnswerCell(index, kind, _text(cell.get("source"))[:MAX_TEXT], outputs)


def _image(data: object) -> str | None:
    value = re.sub(r"\s+", "", _text(data))
    if not value or len(value) > MAX_IMAGE:
        return None
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None  # not an image: it would otherwise be pasted into an attribute
    return value


def _output(out: object) -> Output | None:
    if not isinstance(out, dict):
        return None
    kind = out.get("output_type")
    if kind == "stream":
        return Output("text", _text(out.get("text"))[:MAX_TEXT])
    if kind == "error":
        return Output("error", f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}"[:MAX_TEXT])
    if kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
        data = out["data"]
        for mime in ("image/png", "image/jpeg"):
            image = _image(data.get(mime))
            if image:
                return Output("image", mime=mime, data=image)
        text = _text(data.get("text/plain"))
        return Output("text", text[:MAX_TEXT]) if text else None
    return None
