#!/usr/bin/env bash
# The docker backend's image (workers/sandbox/docker.py): a near-empty root filesystem, imported from
# a tar of a few KiB. Nothing is pulled from a registry: at run time the backend binds the host's /usr
# (the same libraries bubblewrap's sandbox uses), the course runtime, the runner and the submission,
# all read-only, onto the mount points made here.
#
# Tagged grader-sandbox:<digest of the tar> and grader-sandbox:latest (or $1, e.g. name:tag).
# Idempotent and quick: an image already tagged with this digest is only re-tagged.
set -euo pipefail
TARGET=${1:-grader-sandbox:latest}
NAME=${TARGET%:*}
UID_=65534  # the sandbox uid (SandboxLimits.uid); named "student" in /etc/passwd
GID_=65534

root=$(mktemp -d /tmp/grader-sandbox-image.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{etc/alternatives,opt/grader/runtime,opt/grader/runner,submission,work,tmp,usr,proc,dev,sys}
chmod 1777 "$root/tmp"
# Who the student is, localhost, and name lookups from files only (as bwrap's made-up /etc).
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:%s:%s::/work:/bin/sh\n' $UID_ $GID_ >"$root/etc/passwd"
printf 'root:x:0:\nstudent:x:%s:\n' $GID_ >"$root/etc/group"
printf '127.0.0.1 localhost grader\n::1 localhost ip6-localhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
: >"$root/etc/ld.so.cache"  # mount point: the host's cache is bound here at run time
ln -s /work "$root/content"  # notebooks written on Colab use these paths
ln -s /work "$root/storage"
for top in bin lib lib32 lib64 sbin; do  # merged /usr: mirror the host's links; real dirs are bound
  if [ -L "/$top" ]; then
    ln -s "$(readlink "/$top")" "$root/$top"
  elif [ -d "/$top" ]; then
    mkdir "$root/$top"
  fi
done

tarball="$root.tar"
trap 'rm -rf "$root" "$tarball"' EXIT
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$tarball" .
digest=$(sha256sum "$tarball" | cut -c1-16)

if ! docker image inspect "$NAME:$digest" >/dev/null 2>&1; then
  docker import --change "USER $UID_:$GID_" --change "WORKDIR /work" \
    --change "LABEL grader.sandbox.digest=$digest" --message "grader sandbox root $digest" \
    "$tarball" "$NAME:$digest" >/dev/null
fi
docker tag "$NAME:$digest" "$TARGET"
echo "$TARGET = $NAME:$digest ($(docker image inspect --format '{{.Id}}' "$TARGET"))"
