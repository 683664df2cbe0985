"""A runner that answers honestly (evaluating the snippet itself) until a snippet says GARBAGE."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I: our own folder is not on the path
from common import load, reply_ok, requests, start

start()
for msg in requests():
    h = msg.header
    if "GARBAGE" in h["code"]:
        os.write(1, b"\x00\x01garbage that is not a frame" * 100)
        continue
    ns = {}
    for name, item in h["inputs"].items():
        ns[name] = load(msg.blobs[item["blob"]]) if item["kind"] == "npy" else item["value"]
    exec(h["code"], ns)
    reply_ok(h["id"], {name: ns[name] for name in h["outputs"]})
