"""``python -m grader.cli``: the same as the ``grader`` script."""

from grader.cli import main

main()
