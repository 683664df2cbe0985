#!/bin/sh
# Build the course's student runtime: a virtualenv of Debian's python3.11 with the pinned course
# packages, readable (never writable) by the sandbox uid. It holds neither the grader package nor
# any rubric: the sandbox binds it read-only at /opt/grader/runtime.
#
#   scripts/install_runtime.sh [DIR]     DIR defaults to $GRADER_RUNTIME_DIR or /opt/grader/runtime
#
# Idempotent: DIR/DIGEST holds sha256(requirements.txt + this script); when it matches, nothing is
# done. DIGEST is written last, so its presence means a complete runtime.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REQS="$HERE/../workers/runtime/requirements.txt"
DIR=${1:-${GRADER_RUNTIME_DIR:-/opt/grader/runtime}}
PYTHON=/usr/bin/python3.11   # not pyenv's: it lives under /root (0700), unreachable for uid 65534
SANDBOX_UID=${GRADER_SANDBOX__UID:-65534}
SANDBOX_GID=${GRADER_SANDBOX__GID:-65534}

DIGEST=$(cat "$REQS" "$0" "$HERE/torchvision_without_ops.py" | sha256sum | cut -d' ' -f1)
if [ -f "$DIR/DIGEST" ] && [ "$(cat "$DIR/DIGEST")" = "$DIGEST" ]; then
    echo "runtime at $DIR is up to date ($DIGEST)"
    exit 0
fi

# Host packages the sandbox needs; only asked of apt when one is missing.
if [ "$(id -u)" = 0 ]; then
    missing=""
    for pkg in bubblewrap python3.11 python3-venv util-linux; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    fi
fi

echo "building runtime at $DIR"
rm -rf "$DIR"
mkdir -p "$DIR"
# The venv is built in place: its scripts' shebangs hold absolute paths, so it cannot be moved.
"$PYTHON" -m venv "$DIR"
# Every requirement is pinned (torch comes from the local wheel); binaries only, no builds.
"$DIR/bin/python" -m pip install --no-cache-dir --only-binary=:all: -r "$REQS"
# PyPI's torchvision is the CUDA build, whose C++ ops do not load beside the CPU torch: let it import
# without them (the course needs none of them; see the script).
"$DIR/bin/python" "$HERE/torchvision_without_ops.py"

# Matplotlib builds a font cache on first use (seconds, and it needs a writable dir): build it
# here; the runner copies it into a writable MPLCONFIGDIR. Its font paths are host paths, so they
# are right inside the sandbox when DIR is the mount point, /opt/grader/runtime.
mkdir -p "$DIR/mplconfig"
(cd / && MPLCONFIGDIR="$DIR/mplconfig" MPLBACKEND=Agg "$DIR/bin/python" -c \
    "import matplotlib.font_manager as fm; fm.findfont('DejaVu Sans')")

# Readable and traversable by everyone, writable by no one but root; parents too.
chown -R 0:0 "$DIR"
chmod -R a+rX,go-w "$DIR"
d=$(dirname "$DIR")
while [ "$d" != / ]; do chmod a+x "$d"; d=$(dirname "$d"); done

# Prove it: the sandbox uid can import the course packages, and cannot import the grader.
check='import torch, torchvision, numpy, sklearn, matplotlib, ipykernel, jupyter_client, nbclient, nbformat
import importlib.util as u
assert u.find_spec("grader") is None and u.find_spec("workers") is None, "grader leaked into the runtime"
print("runtime ok: torch", torch.__version__, "numpy", numpy.__version__)'
if [ "$(id -u)" = 0 ]; then
    (cd / && env -i HOME=/nonexistent setpriv --reuid="$SANDBOX_UID" --regid="$SANDBOX_GID" --clear-groups \
        "$DIR/bin/python" -c "$check")
else
    (cd / && env -i HOME=/nonexistent "$DIR/bin/python" -c "$check")
fi

echo "$DIGEST" > "$DIR/DIGEST"
chmod 644 "$DIR/DIGEST"
echo "runtime at $DIR built ($DIGEST)"
