#!/usr/bin/env bash
# The browser the dashboard's end-to-end tests drive: Debian's chromium, through Playwright for
# Python (pinned in pyproject.toml's test extra) with the system browser, so nothing is downloaded
# from Playwright's CDN.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1 \
  || { echo "chromium is installed but does not start headless" >&2; exit 1; }
echo "chromium: $(chromium --version)"
