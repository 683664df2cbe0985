"""A runner that fails before any student code could have run: an infrastructure failure."""

import sys

print("runner: cannot start (simulated)", file=sys.stderr)
sys.exit(3)
