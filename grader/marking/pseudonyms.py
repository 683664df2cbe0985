"""Stable pseudonyms for anonymous marking: "Candidate 041307".

A keyed hash (HMAC-SHA256 with the service's secret key) of the coursework and the student's
roster id: stable across pages and sessions, different per coursework (a GTA cannot link a
student's courseworks), and not reversible without the key. Six digits, so that two students of
one cohort rarely share a number; when they do, ``pseudonyms`` tells them apart with a letter
chosen by the full hash, so every label of a coursework is unique. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections import defaultdict
from collections.abc import Iterable

DIGITS = 6


def _digest(secret: str, coursework: str, student_id: int) -> bytes:
    return hmac.new(secret.encode(), f"{coursework}/{student_id}".encode(), hashlib.sha256).digest()


def pseudonym(secret: str, coursework: str, student_id: int) -> str:
    number = int.from_bytes(_digest(secret, coursework, student_id)[:8], "big") % 10**DIGITS
    return f"Candidate {number:0{DIGITS}d}"


def pseudonyms(secret: str, coursework: str, student_ids: Iterable[int]) -> dict[int, str]:
    """Every student's label for the coursework, unique among ``student_ids``."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for sid in set(student_ids):
        by_label[pseudonym(secret, coursework, sid)].append(sid)
    out = {}
    for label, ids in by_label.items():
        if len(ids) == 1:
            out[ids[0]] = label
            continue
        ranked = sorted(ids, key=lambda sid: _digest(secret, coursework, sid))
        for n, sid in enumerate(ranked):
            out[sid] = label + string.ascii_uppercase[n % 26] * (n // 26 + 1)
    return out
