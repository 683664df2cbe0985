"""A runner that says hello, then dies while "running the notebook": the student side's fault."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I: our own folder is not on the path
from common import LIMITS, wire

wire.read_message(0, LIMITS)
wire.write_message(1, {"type": "hello", "protocol": 1})
os._exit(0)
