#!/usr/bin/env bash
# axe-core, the accessibility rules engine the dashboard's browser tests inject into every page
# (tests/web/test_web_a11y_browser.py, docs/accessibility.md). One pinned npm package, installed
# under /opt/grader/axe (GRADER_AXE_DIR to move it); a second run is a no-op.
#
#   bash scripts/ensure_axe.sh [DIR]
set -euo pipefail
DIR="${1:-${GRADER_AXE_DIR:-/opt/grader/axe}}"
PIN="axe-core@4.11.0"
FILE="$DIR/node_modules/axe-core/axe.min.js"
STAMP="$DIR/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PIN" ] && [ -s "$FILE" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
fi
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --prefix "$DIR" "$PIN" >/dev/null
test -s "$FILE" || { echo "axe-core: $FILE is missing after npm install" >&2; exit 1; }
echo "$PIN" >"$STAMP"
echo "axe-core: $(node -p "require('$DIR/node_modules/axe-core/package.json').version") in $DIR" >&2
