"""A roster CSV (``external_id,name[,email]``, a header row first) read into roster entries: all of
it or none. Pure: a lecturer's `grader roster import` reads the file and hands its text here."""

from __future__ import annotations

import csv
import io

from grader.roster.service import RosterEntry

REQUIRED = ("external_id", "name")
MAX_ID, MAX_NAME, MAX_EMAIL = 64, 200, 320  # the API's limits (grader.api.schemas.roster)


class RosterCsvRefused(ValueError):
    """The file has problems; ``problems`` names each, by line. Nothing of it may be stored."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s) in the roster file")
        self.problems = problems


def parse_roster_csv(text: str) -> list[RosterEntry]:
    """The file's students, in its order; ``RosterCsvRefused`` listing every bad line otherwise."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # a spreadsheet's byte-order mark
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RosterCsvRefused(
            [f"line 1: the header needs the column(s) {', '.join(missing)} (external_id,name,email)"]
        )
    reader.fieldnames = columns
    entries: list[RosterEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        external_id = (row.get("external_id") or "").strip()
        name = (row.get("name") or "").strip()
        email = (row.get("email") or "").strip() or None
        bad = []
        if not external_id or len(external_id) > MAX_ID:
            bad.append(f"an external id of 1 to {MAX_ID} characters")
        if not name or len(name) > MAX_NAME:
            bad.append(f"a name of 1 to {MAX_NAME} characters")
        if email is not None and (len(email) > MAX_EMAIL or "@" not in email):
            bad.append("an email address (or nothing)")
        if "\x00" in external_id + name + (email or ""):
            bad.append("no NUL characters")
        if external_id in seen:
            bad.append(f"an external id not already on line {seen[external_id]}")
        if bad:
            problems.append(f"line {line}: needs {'; '.join(bad)}")
            continue
        seen[external_id] = line
        entries.append(RosterEntry(external_id, name, email))
    if problems:
        raise RosterCsvRefused(problems)
    return entries
