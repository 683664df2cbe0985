#!/usr/bin/env bash
# Build the GPU worker image (Dockerfile.gpu) with no network inside the build: the pinned wheels are
# prepared here, on the host, into build/gpu-image/wheels (the build context) and installed with
# pip --no-index.
#
#   scripts/build_gpu_image.sh [--ci] [TAG]          TAG defaults to grader-worker-gpu:latest
#
#   (default)  FROM Dockerfile.gpu's BASE_IMAGE, the CUDA PyTorch image, pulled from Docker Hub.
#   --ci       FROM grader-ci-base:<digest>, a stand-in for it imported from this machine (no registry
#              is reachable here): Debian's Python 3.11, bubblewrap, setpriv, prlimit and the CPU
#              torch wheel from /opt/wheels, installed where a base's Python keeps its packages.
#
# Idempotent: the wheels are fetched again only when the pins change, the CI base is built once per
# digest of its inputs, and docker's layer cache does the rest.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
CI=0
if [ "${1:-}" = --ci ]; then CI=1; shift; fi
TAG=${1:-grader-worker-gpu:latest}
OUT=build/gpu-image
PY=.venv/bin/python  # pip with this machine's indexes (pip.conf)
TORCH_WHEEL_DIR=${GRADER_TORCH_WHEELS:-/opt/wheels}  # the CPU torch wheel, for the CI base only
mkdir -p "$OUT/wheels"

# -- the pinned wheels: exactly the versions tested here (the .venv and the course runtime, frozen),
# torch, torchvision and their CUDA libraries excepted (the base's: a torchvision wheel here would
# shadow the base's CUDA build); the Dockerfile installs with them as constraints.
lock() {  # lock PYTHON: its environment's pins, as constraints
  "$1" -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -viE '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|grader)==|@' || true
}
lock .venv/bin/python >"$OUT/service-lock.txt"
lock "${GRADER_RUNTIME_DIR:-/opt/grader/runtime}/bin/python" >"$OUT/runtime-lock.txt"
echo "setuptools==$(.venv/bin/python -c 'import setuptools; print(setuptools.__version__)' 2>/dev/null)" >>"$OUT/service-lock.txt"
# Wanted only by Pythons older than this machine's (redis needs async-timeout below 3.11.3, and the
# CI base's Debian Python is 3.11.2): a freeze here cannot list them.
echo "async-timeout==5.0.1" >>"$OUT/service-lock.txt"
stamp=$(cat "$OUT/service-lock.txt" "$OUT/runtime-lock.txt" "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/wheels/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "fetching the pinned wheels into $OUT/wheels"
  rm -rf "$OUT/wheels" && mkdir -p "$OUT/wheels"
  for f in service-lock.txt runtime-lock.txt; do
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform linux_x86_64 --platform any --dest "$OUT/wheels" -r "$OUT/$f"
  done
  echo "$stamp" >"$OUT/wheels/.stamp"
fi
if compgen -G "$OUT/wheels/torchvision-*" >/dev/null; then  # it would shadow the base's CUDA build
  echo "a torchvision wheel is in $OUT/wheels: torchvision must come from the base image" >&2; exit 1
fi
cp "$OUT/service-lock.txt" "$OUT/runtime-lock.txt" "$OUT/wheels/"

# -- the CI base: a stand-in for the CUDA PyTorch image, imported from this machine
ci_base() {
  local torch_wheel inputs digest tag root ctx
  torch_wheel=$(ls "$TORCH_WHEEL_DIR"/torch-2.13.0+cpu-cp311-*.whl 2>/dev/null | head -1)
  [ -n "$torch_wheel" ] || { echo "no CPU torch 2.13.0 wheel in $TORCH_WHEEL_DIR for the CI base" >&2; exit 1; }
  # torchvision's own dependencies at the runtime's versions (the real base ships both)
  local tv_deps
  tv_deps=$(grep -iE '^(numpy|pillow)==' "$OUT/runtime-lock.txt" | tr '\n' ' ')
  inputs=$(sed -n '/^ci_base()/,/^}/p' "$0"; dpkg-query -W python3.11 bubblewrap util-linux dash coreutils libc6
    basename "$torch_wheel"; echo "$tv_deps")
  digest=$(echo "$inputs" | sha256sum | cut -c1-16)
  tag=grader-ci-base:$digest
  if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; return; fi
  root=$(mktemp -d /tmp/grader-ci-base.XXXXXX)
  ctx=$(mktemp -d /tmp/grader-ci-base-ctx.XXXXXX)
  trap 'rm -rf "$root" "$ctx"' RETURN
  # Files of a few Debian packages (under /usr: merged /usr), then every library their programs load.
  local pkgs="python3.11 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11-venv
    python3-pip-whl python3-setuptools-whl coreutils dash bubblewrap util-linux libc6 libgcc-s1 libstdc++6"
  # shellcheck disable=SC2086
  dpkg -L $pkgs | sed -E 's#^/(bin|sbin|lib|lib64)/#/usr/\1/#' \
    | grep -vE '/(test|tests|idlelib|tkinter|__pycache__)(/|$)|^/usr/share/(doc|man|locale|lintian)/' \
    | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "${f#/}"; fi; done | sort -u >"$ctx/files"
  mkdir -p "$root/fs"
  tar -C / --no-recursion -cf - -T "$ctx/files" | tar -C "$root/fs" -xf -
  for top in bin lib lib64 sbin; do [ -L "/$top" ] && ln -sfn "$(readlink "/$top")" "$root/fs/$top"; done
  find "$root/fs/usr/bin" "$root/fs/usr/sbin" "$root/fs/usr/lib/python3.11/lib-dynload" -type f \
    | sed "s#^$root/fs##" | { xargs ldd 2>/dev/null || true; } | grep -oE '/[^ ]+\.so[^ :]*' | sort -u \
    | while read -r lib; do  # the content under the name the loader asks for
        dest="$root/fs/usr${lib#/usr}"; mkdir -p "$(dirname "$dest")"; rm -f "$dest"; cp -L "$lib" "$dest"; done
  ln -sf python3.11 "$root/fs/usr/bin/python3"; ln -sf dash "$root/fs/usr/bin/sh"
  rm -f "$root/fs/usr/lib/python3.11/EXTERNALLY-MANAGED"  # this is an image's own Python, not Debian's
  mkdir -p "$root/fs/etc" "$root/fs/tmp" "$root/fs/root" && chmod 1777 "$root/fs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n' >"$root/fs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/fs/etc/group"
  tar -C "$root/fs" --numeric-owner -c . | docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    - "grader-ci-rootfs:$digest" >/dev/null
  # torch and torchvision where a base's Python keeps them (its own site-packages), as the PyTorch
  # image has them. torchvision is PyPI's (the CUDA build; the CPU build's index cannot be reached):
  # its C++ ops cannot load beside the CPU torch, which is what Dockerfile.gpu meets on this stand-in.
  mkdir -p "$ctx/wheels" && cp "$torch_wheel" "$ctx/wheels/"
  # shellcheck disable=SC2086
  "$PY" -m pip download --quiet --disable-pip-version-check --dest "$ctx/wheels" --find-links "$TORCH_WHEEL_DIR" \
    "torch==2.13.0+cpu" "torchvision==0.28.0" $tv_deps "pip==23.0.1"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM grader-ci-rootfs:$digest
COPY wheels /tmp/wheels
RUN python3 /tmp/wheels/pip-23.0.1-py3-none-any.whl/pip install --no-index --find-links /tmp/wheels --no-cache-dir \
      --disable-pip-version-check pip==23.0.1 torch==2.13.0+cpu torchvision==0.28.0 $tv_deps \
    && rm -rf /tmp/wheels && python3 -c "import torch"
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q --force-rm -t "$tag" "$ctx" >/dev/null
  docker rmi "grader-ci-rootfs:$digest" >/dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' grader-ci-base | grep -vx "$tag" | xargs -r docker rmi >/dev/null 2>&1 || true
  echo "$tag"
}

args=()
if [ "$CI" = 1 ]; then
  base=$(ci_base)
  args+=(--build-arg "BASE_IMAGE=$base")
  echo "CI base: $base (a stand-in: the CUDA PyTorch base cannot be pulled here)"
fi
DOCKER_BUILDKIT=0 docker build -q --force-rm -f Dockerfile.gpu "${args[@]}" -t "$TAG" . >/dev/null
echo "$TAG: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$TAG")"
