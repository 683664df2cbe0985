"""`grader grade` starts quickly: the command line imports neither the judge's modules (pytest, numpy:
its judges are forked from a template that imported them) nor the database's (SQLAlchemy)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pytest", "numpy", "sqlalchemy", "torch", "nbclient", "fastapi")


def test_the_command_line_imports_no_judge_or_database_module() -> None:
    code = f"import json, sys, grader.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == []
