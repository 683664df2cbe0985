#!/usr/bin/env bash
# The Docker engine for the docker sandbox backend (workers/sandbox/docker.py): installed with apt if
# missing, started in the background if not answering (no systemd here), then waited for.
# Idempotent: a running engine is left alone.
set -euo pipefail
LOG=/var/log/dockerd.log
# docker-compose (Debian's 1.29): tests/deploy validates docker-compose.yml with it.
if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose
fi
if ! docker info >/dev/null 2>&1; then
  # overlay2 works on the ext4 CI and dev machines; GRADER_DOCKERD_ARGS adds options where it does not
  # (e.g. "--storage-driver vfs --iptables=false"). Sandboxes get no network, so iptables is not needed.
  # shellcheck disable=SC2086
  setsid nohup dockerd ${GRADER_DOCKERD_ARGS:-} >>"$LOG" 2>&1 </dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
if ! docker info >/dev/null 2>&1; then
  echo "dockerd did not come up; the end of $LOG:" >&2
  tail -20 "$LOG" >&2
  exit 1
fi
docker version --format 'docker engine {{.Server.Version}}'
