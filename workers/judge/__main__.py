"""``python -m workers.judge JOB.json``: grade one submission; exit 0 whenever a result was written."""

import sys

from .run import main

sys.exit(main(sys.argv[1:]))
