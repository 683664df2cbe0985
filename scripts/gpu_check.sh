#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: grade the GPU smoke coursework (tests/gpu/courseworks/gpu_smoke)
# in each sandbox backend available here (bwrap always, docker when an engine answers) and check,
# from the hidden tests and from outside:
#   - torch.cuda.is_available() inside the student zone, and a tensor computed on the GPU;
#   - the pinned job sees exactly one device;
#   - after the job no process holds memory on the device, and the device is still in service.
#
#   scripts/gpu_check.sh [DEVICE]      DEVICE: the GPU to pin (index or UUID); default 0
#
# Needs `make setup` done (the .venv and a course runtime whose torch is a CUDA build). Prints one
# PASS/FAIL line per check and a summary; exits 1 if any check failed, 2 if there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "FAIL: no NVIDIA GPU here (nvidia-smi is missing or cannot reach a driver)" >&2
  exit 2
fi
DEVICE=${1:-0}
GRADER=${GRADER:-.venv/bin/grader}
STATE=$(mktemp -d /tmp/grader-gpu-check.XXXXXX)
trap 'rm -rf "$STATE"' EXIT
export GRADER_STATE_DIR=$STATE GRADER_GPU_DEVICE=$DEVICE GRADER_RUBRICS_DIR=$PWD/tests/gpu/courseworks
uuid=$(nvidia-smi --query-gpu=index,uuid --format=csv,noheader | awk -F', ' -v d="$DEVICE" '$1==d || $2==d {print $2}')
[ -n "$uuid" ] || { echo "FAIL: no GPU $DEVICE here: $(nvidia-smi -L | tr '\n' ' ')" >&2; exit 2; }
echo "GPU $DEVICE = $uuid; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i "$uuid")"
if ! "$GRADER" --help >/dev/null 2>&1; then echo "FAIL: $GRADER does not run (make setup)" >&2; exit 2; fi

backends=(bwrap)
if docker info >/dev/null 2>&1; then backends+=(docker); else echo "docker: no engine answers; bwrap only"; fi
passed=0 failed=0
check() {  # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "PASS  $1"; passed=$((passed + 1)); else echo "FAIL  $1 ${3:-}"; failed=$((failed + 1)); fi
}

for backend in "${backends[@]}"; do
  json=$("$GRADER" grade tests/gpu/courseworks/gpu_smoke/solution.ipynb -c gpu_smoke --backend "$backend" --json 2>&1)
  for item in graded cuda_available one_device cuda_tensor; do
    verdict=$(printf '%s' "$json" | python3 -c '
import json, sys
item = sys.argv[1]
try:
    r = json.loads(sys.stdin.read())
except ValueError as e:
    print("0 the grader printed no JSON"); sys.exit()
if item == "graded":
    print("1" if r["status"] == "graded" else "0 " + str(r.get("error"))[:300]); sys.exit()
it = next((i for i in r["items"] if i["id"] == item), None)
ok = it is not None and it["score"] == it["max_score"]
print("1" if ok else "0 " + (it["message"] if it else "no such item"))' "$item")
    check "$backend: $item" "${verdict%% *}" "$( [ "${verdict%% *}" = 1 ] || echo "${verdict#* }")"
  done
  sleep 2
  held=$(nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader | grep -F "$uuid" || true)
  check "$backend: no GPU memory held after the job" "$([ -z "$held" ] && echo 1 || echo 0)" "$held"
  marker=$(ls "$STATE"/gpu-out-of-service 2>/dev/null | head -1)
  check "$backend: the device is still in service" "$([ -z "$marker" ] && echo 1 || echo 0)" \
    "$(cat "$STATE"/gpu-out-of-service/* 2>/dev/null)"
done

echo "gpu_check: $passed passed, $failed failed (backends: ${backends[*]})"
[ "$failed" = 0 ]
