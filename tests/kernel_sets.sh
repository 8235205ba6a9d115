#!/usr/bin/env bash
# The tests that judge training outcomes (pytest marker `kernels`), once per CPU kernel set: PyTorch's vector
# kernels (ATEN_CPU_CAPABILITY) and oneDNN's (ONEDNN_MAX_CPU_ISA) are chosen by the CPU's features, and their
# rounding differs, so a verdict that holds on one machine must hold under every set. A set this CPU lacks is
# skipped and said so. Usage: tests/kernel_sets.sh [PYTHON] [pytest args...]; exit 1 if any set failed.
set -u
python=${1:-python3}
shift || true
sets=(
  "ATEN_CPU_CAPABILITY=default"
  "ATEN_CPU_CAPABILITY=avx2"
  "ATEN_CPU_CAPABILITY=avx512"
  "ONEDNN_MAX_CPU_ISA=AVX2"
  "ONEDNN_MAX_CPU_ISA=SSE41"
)
summary=()
failed=0
for kernels in "${sets[@]}"; do
  chosen=$(env "$kernels" "$python" -c "import torch; print(torch.backends.cpu.get_cpu_capability())")
  case $kernels in
    ATEN_CPU_CAPABILITY=*)
      wanted=${kernels#*=}
      if [ "$chosen" != "${wanted^^}" ] && [ "$chosen" != "$wanted" ]; then
        summary+=("$kernels: skipped (this CPU runs $chosen at most)")
        continue
      fi ;;
  esac
  echo "== $kernels (torch kernels: $chosen)"
  if env "$kernels" "$python" -m pytest -m kernels -p no:cacheprovider -q "$@"; then
    summary+=("$kernels: passed (torch kernels: $chosen)")
  else
    summary+=("$kernels: FAILED (torch kernels: $chosen)")
    failed=1
  fi
done
printf '%s\n' "== kernel sets" "${summary[@]}"
exit $failed
