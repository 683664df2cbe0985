"""The ``grader`` command line: the group ``main`` (the ``grader`` script, ``python -m grader.cli``)
and its commands, a module per part of the service.

Importing a command module registers its commands on ``main``. Each command imports what it needs
beyond click when it runs, so ``grader --help`` stays quick.
"""

from __future__ import annotations

from grader.cli import (  # noqa: F401  (imported for their commands)
    accounts,
    backup,
    data,
    extensions,
    grading,
    importers,
    module_marks,
    queries,
    references,
    regrade_preview,
    roster,
    service,
    similarity,
)
from grader.cli.app import main

__all__ = ["main"]
