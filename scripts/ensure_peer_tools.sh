#!/usr/bin/env bash
# nbgrader and otter-grader, the peers the agreement test (tests/importers) and bench/peers.py grade
# with, in a virtualenv of their own: their pins would clash with the project's .venv, which they
# never touch. Idempotent: a stamp holding the pins makes a second run a no-op.
#
#   bash scripts/ensure_peer_tools.sh [DIR]     # default /opt/grader/peer-tools
set -euo pipefail
DIR="${1:-${GRADER_PEER_TOOLS:-/opt/grader/peer-tools}}"
PYTHON="${PEER_PYTHON:-/usr/bin/python3.11}"
# numpy: the course runtime's, so both sides compute with the same library.
PINS=(nbgrader==0.9.6 otter-grader==7.0.0 ipykernel numpy==2.4.6)
STAMP="$DIR/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PINS[*]}" ] && [ -x "$DIR/bin/nbgrader" ] && [ -x "$DIR/bin/otter" ]; then
  exit 0
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! dpkg -s python3.11-venv >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv
fi
echo "peer tools: installing ${PINS[*]} into $DIR" >&2
test -x "$DIR/bin/python" || "$PYTHON" -m venv "$DIR"
"$DIR/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
# The tools' kernels run the student notebooks: the venv's own Python, registered inside the venv.
"$DIR/bin/python" -m ipykernel install --prefix "$DIR" --name python3 >/dev/null
"$DIR/bin/nbgrader" --version >/dev/null
"$DIR/bin/otter" --version >/dev/null
echo "${PINS[*]}" >"$STAMP"
