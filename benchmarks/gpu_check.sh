#!/usr/bin/env bash
# The GPU check, for whoever is lent a GPU machine: one script, JSON out; about 5 minutes on one H200 (each part
# has a time limit: 12 minutes at most).
#   1. the CUDA-only tests (tests/test_cuda.py: the real loop in fp32 and bf16 + channels_last, GPU vs CPU features)
#   2. the training step at 256x128 in the real protocol's batch and settings (benchmarks/train_step.py
#      --protocol real: KA vs single-model step, 3 vs 2 sources, input pipeline), then the 3 vs 2 sources steps
#      compiled (--compile)
#   3. a real-scale KA and MTL run of 300 steps (two epochs; the second is reported) at 256x128, bf16 +
#      channels_last, then again with torch.compile
#      (benchmarks/gpu_run.py: twin and single img/s, KA/single ratio, peak GPU memory, data-wait share)
# Writes ${OUT:-build/gpu_check}/gpu_check.json (and each part's log). Without a GPU it says so and exits 0.
#   bash benchmarks/gpu_check.sh            (PYTHON=... to use another interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-build/gpu_check}
mkdir -p "$OUT"

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing measured"
  exit 0
fi

part() {  # name, seconds, command...: run it with a time limit; its stdout to $OUT/<name>.out, its status kept
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.out" 2>"$OUT/$name.log"
  echo "$name $? $((SECONDS - start))" >>"$OUT/parts.txt"
}

rm -f "$OUT/parts.txt"
part cuda_tests 90 "$PYTHON" -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider
part train_step 120 "$PYTHON" benchmarks/train_step.py --device cuda --protocol real --height 256 --width 128 --steps 20
part train_step_compiled 240 "$PYTHON" benchmarks/train_step.py --device cuda --protocol real --height 256 --width 128 \
  --steps 20 --compile
part run_eager 120 "$PYTHON" benchmarks/gpu_run.py --device cuda --steps 300
part run_compiled 150 "$PYTHON" benchmarks/gpu_run.py --device cuda --steps 300 --compile

"$PYTHON" - "$OUT" <<'PY'
import json, subprocess, sys
from pathlib import Path

out = Path(sys.argv[1])
report = {"benchmark": "gpu_check", "parts": {}}
report["nvidia_smi"] = subprocess.run(
    ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
    capture_output=True, text=True,
).stdout.strip()
for line in (out / "parts.txt").read_text().splitlines():
    name, status, seconds = line.split()
    text = (out / f"{name}.out").read_text()
    try:
        result = json.loads(text)
    except json.JSONDecodeError:
        result = text.strip().splitlines()[-1:] or (out / f"{name}.log").read_text().strip().splitlines()[-3:]
    report["parts"][name] = {"exit_status": int(status), "seconds": int(seconds), "result": result}
(out / "gpu_check.json").write_text(json.dumps(report, indent=2))
print(json.dumps(report, indent=2))
failed = [name for name, part in report["parts"].items() if part["exit_status"]]
sys.exit(1 if failed else 0)
PY
