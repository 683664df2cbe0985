"""Code fingerprints of a notebook that survive renaming, reformatting and reordering.

Each code cell is read by Python's own tokenizer (never run): every name becomes one token ``N``,
numbers ``0`` and strings ``S``, comments, blank lines and layout vanish, and ``;`` and a line's end
are one token. Every ``K`` tokens in a row (inside one cell, so moving cells changes nothing) are
hashed with a stable hash, so fingerprints mean the same in every process and year. Winnowing
(Schleimer, Wilkerson and Aiken, SIGMOD 2003; what MOSS and copydetect do) keeps the rightmost
smallest hash of every window of ``WINDOW`` hashes: two notebooks that share a run of at least
``K + WINDOW - 1`` normalised tokens share at least one fingerprint, and shorter runs (idioms) are
mostly ignored.
"""

from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

K = 15  # tokens per k-gram: with names folded into one token, shorter runs are everyday idioms
WINDOW = 10  # hashes per winnowing window: any shared run of K + WINDOW - 1 = 24 tokens is seen
_MODULUS = (1 << 61) - 1  # a Mersenne prime: the rolling hash stays a 61-bit int
_BASE = 1_000_003
_HIGH = pow(_BASE, K - 1, _MODULUS)
_NOT_PYTHON = re.compile(r"^\s*[%!?]")  # IPython magics and shell escapes: lines the tokenizer would stumble on
_DROPPED = {"COMMENT", "NL", "INDENT", "DEDENT", "ENCODING", "ENDMARKER", "TYPE_COMMENT", "ERRORTOKEN"}
_CLOSING = {")", "]", "}"}


@dataclass(frozen=True)
class Token:
    """One normalised token and where its text is in the cell (lines 1-based, as tokenize has them)."""

    text: str
    line: int
    end_line: int


@dataclass(frozen=True)
class Fingerprint:
    """A kept k-gram hash: cell ``cell``'s tokens ``first`` .. ``first + K - 1``."""

    hash: int
    cell: int
    first: int


@dataclass(frozen=True)
class Document:
    """One notebook's code as the comparison sees it."""

    cells: tuple[str, ...]  # the code cells' sources, in notebook order
    tokens: tuple[tuple[Token, ...], ...]  # per cell
    fingerprints: tuple[Fingerprint, ...]

    @property
    def hashes(self) -> frozenset[int]:
        return frozenset(f.hash for f in self.fingerprints)


def normalise(source: str) -> list[Token]:
    """The cell's tokens with names, literals and layout folded. Code the tokenizer cannot finish
    (a cell cut off mid-string) keeps the tokens read before the error."""
    if source.lstrip().startswith("%%"):
        return []  # a cell magic (%%bash, %%writefile): not Python
    lines = ["\n" if _NOT_PYTHON.match(line) else line for line in source.splitlines(keepends=True)]
    out: list[Token] = []
    in_fstring = 0  # Python 3.12+ splits f-strings into parts: one ``S`` for the whole
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            kind = tokenize.tok_name[tok.type]
            if kind in ("FSTRING_START", "TSTRING_START"):
                if not in_fstring:
                    out.append(Token("S", tok.start[0], tok.end[0]))
                in_fstring += 1
                continue
            if kind in ("FSTRING_END", "TSTRING_END"):
                in_fstring -= 1
                continue
            if in_fstring or kind in _DROPPED:
                continue
            text = _fold(kind, tok.string)
            if text == ";" and (not out or out[-1].text == ";"):
                continue  # an empty statement, or "a; " then the line's end
            if text in _CLOSING and out and out[-1].text == ",":
                out.pop()  # a trailing comma, as formatters add them
            out.append(Token(text, tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _fold(kind: str, text: str) -> str:
    if kind == "NAME":
        return text if keyword.iskeyword(text) else "N"
    if kind == "NUMBER":
        return "0"
    if kind == "STRING":
        return "S"
    if kind == "NEWLINE":
        return ";"
    return text


@cache
def _token_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "big")


def kgram_hashes(tokens: Sequence[Token]) -> list[int]:
    """A rolling (Rabin-Karp) hash of every K tokens in a row; stable across processes, unlike ``hash``."""
    ids = [_token_id(t.text) for t in tokens]
    if len(ids) < K:
        return []
    h = 0
    for i in ids[:K]:
        h = (h * _BASE + i) % _MODULUS
    out = [h]
    for drop, add in zip(ids, ids[K:], strict=False):
        h = ((h - drop * _HIGH) * _BASE + add) % _MODULUS
        out.append(h)
    return out


def winnow(hashes: Sequence[int], window: int = WINDOW) -> list[int]:
    """The positions winnowing keeps: the rightmost minimum of every window, each position once.
    A sequence shorter than a window keeps its minimum."""
    kept: list[int] = []
    best: deque[int] = deque()  # positions whose hashes rise from left to right: best[0] is the window's minimum
    for i, h in enumerate(hashes):
        while best and hashes[best[-1]] >= h:  # >=: of equal hashes the rightmost wins
            best.pop()
        best.append(i)
        if best[0] <= i - window:
            best.popleft()
        if (i >= window - 1 or i == len(hashes) - 1) and (not kept or kept[-1] != best[0]):
            kept.append(best[0])
    return kept


def fingerprint(cells: Iterable[str]) -> Document:
    """A notebook's code cells (sources in notebook order) as a ``Document``."""
    sources = tuple(cells)
    tokens = tuple(tuple(normalise(s)) for s in sources)
    prints: list[Fingerprint] = []
    for n, cell_tokens in enumerate(tokens):
        hashes = kgram_hashes(cell_tokens)
        prints.extend(Fingerprint(hashes[i], n, i) for i in winnow(hashes))
    return Document(sources, tokens, tuple(prints))
