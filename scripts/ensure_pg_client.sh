#!/usr/bin/env bash
# pg_dump and pg_restore for `grader backup` and `grader restore` (tests/backup): PostgreSQL's client
# tools, of a major version no older than the server's (pg_dump refuses a newer server).
set -euo pipefail
server_major() {
  psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc "SHOW server_version_num" 2>/dev/null | cut -c1-2 || true
}
client_major() {
  if command -v pg_dump >/dev/null && command -v pg_restore >/dev/null; then
    pg_dump --version | sed -E 's/[^0-9]*([0-9]+).*/\1/'
  else
    echo 0
  fi
}
if [ "$(client_major)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client
fi
want="$(server_major)"
if [ -n "$want" ] && [ "$(client_major)" -lt "$want" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-client-$want"
fi
pg_dump --version
