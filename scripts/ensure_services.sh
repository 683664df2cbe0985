#!/usr/bin/env bash
# Start the services the tests talk to (PostgreSQL, Redis) when they are not already running.
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null; then apt-get update -qq && apt-get install -y -qq postgresql; fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null; then apt-get update -qq && apt-get install -y -qq redis-server; fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done
fi
# The fault tests start private servers of their own (tests/private_services.py): they need the
# binaries even where the shared servers run elsewhere.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then apt-get update -qq && apt-get install -y -qq postgresql; fi
if ! command -v redis-server >/dev/null; then apt-get update -qq && apt-get install -y -qq redis-server; fi
# The scale-out tests (tests/scaleout) make network namespaces and proxy the services into them.
if ! command -v socat >/dev/null || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
  apt-get update -qq && apt-get install -y -qq socat iproute2 util-linux
fi
pg_isready -h 127.0.0.1 -p 5432
redis-cli -h 127.0.0.1 -p 6379 ping
