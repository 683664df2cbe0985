#!/usr/bin/env bash
# The GPU path, run for real on a machine with an NVIDIA GPU (docs/gpu.md). Two parts:
#
# Bare (needs only nvidia-smi and a Python whose torch has CUDA: a bare GPU machine's own Python and
# torch do; no project venv, no Docker, no sandbox): scripts/gpu_check_bare.py checks the device count,
# CPU against GPU on CW2's reference forward passes (its model files loaded with plain torch into its
# notebook's own classes), a file saved on cuda loading on the CPU, and this process's memory freed;
# then nvidia-smi shows no process left holding the device.
#
# Project (needs `make setup`: the .venv, the course runtime with a CUDA torch, bubblewrap, root),
# on each sandbox backend here (bwrap always, docker when an engine answers):
#   - the GPU smoke coursework (tests/gpu/courseworks/gpu_smoke): CUDA in the sandboxed kernel, which
#     sees exactly one device, and computes on it;
#   - the device is clean after the job and still in service;
#   - one job per GPU: `grader up` takes two GPU jobs at once, the second waits (scripts/gpu_check_jobs.py);
#   - a process left holding the device after a job takes it out of service, and the next job is refused;
#   - CW2's reference gets full marks on the GPU, its grading time reported against the CPU path.
# Where the project's runtime or sandbox is missing, each of these prints "NOT RUN (why)" and the bare
# part still runs.
#
#   scripts/gpu_check.sh [--cpu-dry-run] [DEVICE]    DEVICE: the GPU (index or UUID); default 0
#
# --cpu-dry-run: no GPU needed; the CPU stands in for it in the bare part (tests/gpu runs it so, with a
# fake nvidia-smi), and the project part is not run. GPU_CHECK_PYTHON names the bare part's Python
# (default: the first of python3, the course runtime's, the .venv's whose torch sees the GPU).
# One PASS/FAIL/NOT RUN line per check and a summary; exit 1 if a check failed, 2 if there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = --cpu-dry-run ]; then DRY=1; shift; fi
DEVICE=${1:-0}
GRADER=${GRADER:-.venv/bin/grader}
RUNTIME=${GRADER_RUNTIME_DIR:-/opt/grader/runtime}
passed=0 failed=0 notrun=0
check() {  # check NAME OK [DETAIL]
  if [ "$2" = 1 ]; then echo "PASS  $1"; passed=$((passed + 1)); else echo "FAIL  $1 ${3:-}"; failed=$((failed + 1)); fi
}
not_run() { echo "NOT RUN  $1 ($2)"; notrun=$((notrun + 1)); }
held_on() {  # the compute processes nvidia-smi lists on GPU $1 (uuid), one "uuid, pid, MiB" a line
  nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader | grep -F "$1" || true
}

# -- the device ---------------------------------------------------------------------------------
uuid=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  uuid=$(nvidia-smi --query-gpu=index,uuid --format=csv,noheader | awk -F', ' -v d="$DEVICE" '$1==d || $2==d {print $2}')
  [ -n "$uuid" ] || { echo "FAIL: no GPU $DEVICE here: $(nvidia-smi -L | tr '\n' ' ')" >&2; exit 2; }
  echo "GPU $DEVICE = $uuid; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i "$uuid" 2>/dev/null)"
  echo "nvidia-smi lists $(nvidia-smi -L | grep -c '^GPU ') GPU(s)"
elif [ "$DRY" = 1 ]; then
  echo "no nvidia-smi answers: --cpu-dry-run goes on without it"
else
  echo "FAIL: no NVIDIA GPU here (nvidia-smi is missing or cannot reach a driver)" >&2
  exit 2
fi

# -- the bare part: a Python whose torch sees the GPU ------------------------------------------
PY=""
candidates=(python3 "$RUNTIME/bin/python" .venv/bin/python)
[ -n "${GPU_CHECK_PYTHON:-}" ] && candidates=("$GPU_CHECK_PYTHON")  # named: that one only
for candidate in "${candidates[@]}"; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  if [ "$DRY" = 1 ]; then want='import torch'; else want='import sys, torch; sys.exit(not torch.cuda.is_available())'; fi
  if "$candidate" -c "$want" >/dev/null 2>&1; then PY=$candidate; break; fi
done
dry=(); [ "$DRY" = 1 ] && dry=(--cpu-dry-run)
if [ -z "$PY" ]; then
  check "a Python here whose torch sees the GPU (GPU_CHECK_PYTHON, python3, the runtime, .venv)" 0
else
  echo "== bare checks: $PY ($("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'))"
  # The GPU as the only device this process sees: index 0 inside, whatever its index outside.
  bare=$(CUDA_VISIBLE_DEVICES=${uuid:-${CUDA_VISIBLE_DEVICES:-}} MPLBACKEND=Agg "$PY" scripts/gpu_check_bare.py \
    --device 0 "${dry[@]}" 2>&1)
  bare_rc=$?
  echo "$bare"
  passed=$((passed + $(grep -c '^PASS ' <<<"$bare")))
  failed=$((failed + $(grep -c '^FAIL ' <<<"$bare")))
  if [ "$bare_rc" != 0 ] && ! grep -q '^FAIL ' <<<"$bare"; then check "scripts/gpu_check_bare.py ran" 0 "exit $bare_rc"; fi
fi
if [ -n "$uuid" ]; then
  sleep 1
  held=$(held_on "$uuid")
  check "no process holds the device after the bare checks" "$([ -z "$held" ] && echo 1 || echo 0)" "$held"
else
  not_run "no process holds the device after the bare checks" "no nvidia-smi"
fi

# -- the project part: the runtime and the sandbox ---------------------------------------------
why=""
if ! "$GRADER" --help >/dev/null 2>&1; then why="no project venv: $GRADER does not run (make setup)"
elif [ ! -x "$RUNTIME/bin/python" ]; then why="no course runtime at $RUNTIME (scripts/install_runtime.sh)"
elif ! "$RUNTIME/bin/python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' >/dev/null 2>&1; then
  why="the course runtime's torch sees no GPU (a CPU build?)"
elif ! command -v bwrap >/dev/null 2>&1; then why="no bubblewrap: no sandbox"
elif [ "$(id -u)" != 0 ]; then why="the sandbox needs root (job cgroups, the sandbox uid)"
fi
if [ "$DRY" = 1 ] && [ -z "$why" ]; then why="--cpu-dry-run: these grade on the GPU"; fi
PROJECT_CHECKS=(
  "the sandboxed kernel sees CUDA and exactly one device, and computes on it"
  "the device is clean after a job, and still in service"
  "one job per GPU: a second job waits rather than sharing"
  "a process left on the device after a job takes it out of service"
  "CW2's reference gets full marks on the GPU, timed against the CPU path"
)
if [ -n "$why" ]; then
  for name in "${PROJECT_CHECKS[@]}"; do not_run "$name" "$why"; done
  echo "gpu_check: $passed passed, $failed failed, $notrun not run"
  [ "$failed" = 0 ]
  exit
fi

STATE=$(mktemp -d /tmp/grader-gpu-check.XXXXXX)
holder=""
cleanup() { [ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$STATE"; }
trap cleanup EXIT
export GRADER_STATE_DIR=$STATE GRADER_GPU_DEVICE=$DEVICE
backends=(bwrap)
if docker info >/dev/null 2>&1; then backends+=(docker); else echo "docker: no engine answers; bwrap only"; fi
verdict() {  # verdict ITEM < JSON: "1" or "0 why"
  python3 -c '
import json, sys
item = sys.argv[1]
try:
    r = json.loads(sys.stdin.read())
except ValueError:
    print("0 the grader printed no JSON"); sys.exit()
if item == "graded":
    print("1" if r["status"] == "graded" else "0 " + str(r.get("error"))[:300]); sys.exit()
if item == "full marks":
    ok = r["status"] == "graded" and r["score"] == r["auto_max_score"]
    print("1" if ok else "0 %s/%s %s" % (r["score"], r["auto_max_score"], str(r.get("error"))[:200])); sys.exit()
it = next((i for i in r["items"] if i["id"] == item), None)
print("1" if it is not None and it["score"] == it["max_score"] else "0 " + (it["message"] if it else "no such item"))' "$1"
}
smoke() { GRADER_RUBRICS_DIR=$PWD/tests/gpu/courseworks "$GRADER" grade tests/gpu/courseworks/gpu_smoke/solution.ipynb \
  -c gpu_smoke --backend "$1" --json 2>&1; }

for backend in "${backends[@]}"; do
  json=$(smoke "$backend")
  for item in graded cuda_available one_device cuda_tensor; do
    v=$(verdict "$item" <<<"$json")
    check "$backend: $item" "${v%% *}" "$([ "${v%% *}" = 1 ] || echo "${v#* }")"
  done
  sleep 2
  held=$(held_on "$uuid")
  check "$backend: no GPU memory held after the job" "$([ -z "$held" ] && echo 1 || echo 0)" "$held"
  marker=$(ls "$STATE"/gpu-out-of-service 2>/dev/null | head -1)
  check "$backend: the device is still in service" "$([ -z "$marker" ] && echo 1 || echo 0)" \
    "$(cat "$STATE"/gpu-out-of-service/* 2>/dev/null)"
done

echo "== one job per GPU (grader up, two students at once)"
mkdir -p "$STATE/up"
jobs_out=$("$(dirname "$GRADER")/python" scripts/gpu_check_jobs.py "$STATE/up" "$DEVICE" 2>&1)
echo "$jobs_out"
passed=$((passed + $(grep -c '^PASS ' <<<"$jobs_out")))
failed=$((failed + $(grep -c '^FAIL ' <<<"$jobs_out")))

echo "== CW2's reference on the GPU, and on the CPU path"
cw2_gpu=$("$GRADER" grade rubrics/cw2/solution.zip -c cw2 --backend bwrap --json 2>&1)
v=$(verdict "full marks" <<<"$cw2_gpu")
check "CW2 reference: full marks on the GPU" "${v%% *}" "$([ "${v%% *}" = 1 ] || echo "${v#* }")"
device_line=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("device"))' <<<"$cw2_gpu" 2>/dev/null)
check "CW2 reference: graded on the GPU ($device_line)" "$([[ "$device_line" == GPU* ]] && echo 1 || echo 0)"
# The CPU path: the same coursework as its fallback grades it (a copy of its rubric on the cpu queue).
cpu_rubrics=$STATE/cpu-rubrics
mkdir -p "$cpu_rubrics" && cp -r rubrics/cw2 "$cpu_rubrics/"
python3 - "$cpu_rubrics/cw2/rubric.yaml" <<'PY'
import re, sys
path = sys.argv[1]
text, n = re.subn(r"\n  queue: gpu\n  gpu: true\n  fallback_queue: cpu\n  fallback_after: [^\n]+\n",
                  "\n  queue: cpu\n  gpu: false\n", open(path).read())
open(path, "w").write(text)
sys.exit(n != 1)
PY
check "CW2's rubric copied onto the cpu queue (the CPU path)" "$([ $? = 0 ] && echo 1 || echo 0)" \
  "its resources block is not queue gpu, gpu true, fallback_queue cpu, fallback_after"
cw2_cpu=$(GRADER_RUBRICS_DIR=$cpu_rubrics "$GRADER" grade "$cpu_rubrics/cw2/solution.zip" -c cw2 --backend bwrap --json 2>&1)
v=$(verdict "full marks" <<<"$cw2_cpu")
check "CW2 reference: full marks on the CPU path" "${v%% *}" "$([ "${v%% *}" = 1 ] || echo "${v#* }")"
python3 - "$cw2_gpu" "$cw2_cpu" <<'PY'
import json, sys
try:
    gpu, cpu = (json.loads(a) for a in sys.argv[1:3])
    print(f"TIME  CW2 reference graded in {gpu['duration_s']:.1f}s on the GPU ({gpu.get('device')}), "
          f"{cpu['duration_s']:.1f}s on the CPU path ({cpu.get('device')}): GPU/CPU = {gpu['duration_s'] / cpu['duration_s']:.2f}")
except (ValueError, KeyError, ZeroDivisionError) as e:
    print(f"TIME  not measured: {e}")
PY

echo "== a process left on the device after a job"
CUDA_VISIBLE_DEVICES=$uuid "$RUNTIME/bin/python" -c \
  'import time, torch; x = torch.ones(1 << 20, device="cuda"); print("holding", flush=True); time.sleep(900)' \
  > "$STATE/holder.out" 2>&1 &
holder=$!
for _ in $(seq 60); do grep -q holding "$STATE/holder.out" && break; sleep 1; done
json=$(smoke bwrap)
marker=$(cat "$STATE"/gpu-out-of-service/* 2>/dev/null)
check "a process left holding the device takes it out of service" "$([ -n "$marker" ] && echo 1 || echo 0)" \
  "$(grep -q holding "$STATE/holder.out" || echo "the stand-in never held the device: $(cat "$STATE/holder.out")")"
again=$(smoke bwrap)
refused=$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(int(r["status"]=="error" and "out of service" in (r["error"] or "")))' <<<"$again" 2>/dev/null)
check "the next GPU job is refused (out of service)" "${refused:-0}" "${again:0:300}"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; holder=""
rm -rf "$STATE/gpu-out-of-service"

echo "gpu_check: $passed passed, $failed failed, $notrun not run (backends: ${backends[*]})"
[ "$failed" = 0 ]
