#!/usr/bin/env bash
# GpuDistill's portable GPU benchmark. Copy this folder (or gpu-bundle.tar.gz) to a Linux x64 machine with an NVIDIA
# GPU and its driver; no .NET is needed.
#
#   ./run.sh --self-check [--seed N]   the fused KL kernel against the float64 reference on the CPU accelerator only
#                                      (needs no GPU; exit 1 on a mismatch)
#   ./run.sh [--out DIR] [--no-torch] [--sizes BxC,...] [--seed N] [--quick]
#                                      on CUDA: self-check, copy bandwidth, fused KL forward + backward at each size;
#                                      then, where python3 has PyTorch with CUDA, the same math as a PyTorch composite,
#                                      merged into the table as a ratio. Results go to DIR (default ./results).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/gpudistill-gpubench"
py="${PYTHON:-python3}"

if [[ ! -x "$bin" ]]; then
  echo "run.sh: $bin not found. Build the bundle first (dotnet pwsh build.ps1 bundle) and run artifacts/gpu-bundle/run.sh." >&2
  exit 2
fi

out="$here/results"
torch=1
self_check=0
args=()
while (($#)); do
  case "$1" in
    --self-check) self_check=1; shift ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if ((self_check)); then
  exec "$bin" --self-check --device cpu ${args[@]+"${args[@]}"}
fi

mkdir -p "$out"
csv="$out/gpu-bench.csv"
rm -f "$csv" "$out/torch.json" "$out/comparison.csv"
start=$SECONDS
set +e
"$bin" --out "$out" ${args[@]+"${args[@]}"} 2>&1 | tee "$out/gpubench.log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 && $status -ne 1 ]] || [[ ! -f "$csv" ]]; then
  exit "$status"
fi

if ((torch)) && "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo
  echo "PyTorch composite at the sizes measured above:"
  if "$py" "$here/torch_reference.py" --bench-csv "$csv" --out "$out/torch.json" >/dev/null; then
    echo
    "$py" "$here/torch_reference.py" merge "$csv" "$out/torch.json" "$out/comparison.csv"
  else
    echo "the PyTorch comparison failed (see above); the bundle's own results stand"
  fi
elif ((torch)); then
  echo
  echo "PyTorch with CUDA is not installed for $py: skipping the comparison with the PyTorch composite."
fi

echo "total $((SECONDS - start)) s; results in $out"
exit "$status"
