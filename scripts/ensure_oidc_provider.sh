#!/usr/bin/env bash
# The OpenID provider the sign-on tests start (tests/users/oidc_provider/provider.mjs): Node.js and
# npm from Debian, and the certified `oidc-provider` package with every dependency pinned by
# tests/users/oidc_provider/package-lock.json, installed with `npm ci` under $OIDC_PROVIDER_HOME
# (default /opt/grader/oidc-provider). A rerun with the same lock file changes nothing.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)/tests/users/oidc_provider"
HOME_DIR="${OIDC_PROVIDER_HOME:-/opt/grader/oidc-provider}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if ! cmp -s "$HERE/package-lock.json" "$HOME_DIR/.installed-lock.json"; then
  mkdir -p "$HOME_DIR"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$HOME_DIR/"
  npm ci --prefix "$HOME_DIR" --no-audit --no-fund --loglevel=error
  cp "$HERE/package-lock.json" "$HOME_DIR/.installed-lock.json"
fi
echo "oidc-provider $(node -p "require('$HOME_DIR/node_modules/oidc-provider/package.json').version") under $HOME_DIR (node $(node --version))"
