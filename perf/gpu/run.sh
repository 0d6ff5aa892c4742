#!/usr/bin/env bash
# GpuDistill's portable GPU benchmark. Copy this folder (or gpu-bundle.tar.gz) to a Linux x64 machine with an NVIDIA
# GPU and its driver; no .NET is needed.
#
#   ./run.sh --self-check [--seed N]   every kernel family against the float64 references on the CPU accelerator only
#                                      (needs no GPU; exit 1 on a mismatch)
#   ./run.sh [DIR | --out DIR] [--quick] [--no-torch] [--sizes BxC,...] [--seed N] [--relations default|smoke|none]
#            [--checks FAMILY,...|none]
#                                      on CUDA: every kernel family against the float64 references (checks.csv), copy
#                                      bandwidth, fused KL forward + backward at each size (gpu-bench.csv), the relation
#                                      and attention-transfer timings (relations.csv); then, where python3 has PyTorch
#                                      with CUDA, the same math as PyTorch composites, merged into the tables as ratios.
#                                      Results go to DIR (default ./results). --quick: short measurements and the KL
#                                      sweep without its biggest sizes.
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
quick=()
args=()
families="$("$bin" --families)"   # every kernel family the bundle checks
while (($#)); do
  case "$1" in
    --self-check) self_check=1; shift ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --quick) quick=(--quick); args+=("$1"); shift ;;
    --checks) families="${2:?--checks needs a value}"; families="${families//,/ }"; shift 2 ;;
    --sizes|--seed|--relations|--device|--copy-mb) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -*) args+=("$1"); shift ;;
    *) out="$1"; shift ;;   # a bare argument is the results folder (run.sh "$OUT")
  esac
done

if ((self_check)); then
  [[ $families == none ]] && exit 0
  exec "$bin" --self-check --device cpu --checks "${families// /,}" ${args[@]+"${args[@]}"}
fi

mkdir -p "$out"
csv="$out/gpu-bench.csv"
rel="$out/relations.csv"
rm -rf "$csv" "$rel" "$out/checks.csv" "$out/checks.log" "$out/checks" "$out/torch.json" "$out/comparison.csv" "$out/torch-relations.json" \
  "$out/relations-comparison.csv"
start=$SECONDS
# Stage 1: every kernel family against the float64 references, one process per family. A kernel that never returns
# leaves the device stuck (the bundle then exits after 60 s), so each family has a process and a time limit of its own
# and the others, and the timings, run whatever happened.
checks=0
mkdir -p "$out/checks"
: > "$out/checks.log"
[[ $families == none ]] && families=""
for family in $families; do
  set +e
  timeout 100 "$bin" --checks-only --checks "$family" --out "$out/checks/$family" ${args[@]+"${args[@]}"} 2>&1 \
    | grep -v '^device: \|^wrote ' | tee -a "$out/checks.log"
  code=${PIPESTATUS[0]}
  set -e
  case $code in
    0) ;;
    1) checks=1 ;;
    124) checks=1; echo "  cuda $family: did not finish within 100 s" | tee -a "$out/checks.log" ;;
    *) exit "$code" ;;   # no CUDA device (3) or bad arguments (2)
  esac
done
# One CSV: the header once, then every family's rows.
first=1
for family in $families; do
  f="$out/checks/$family/checks.csv"
  [[ -f "$f" ]] || continue
  if ((first)); then cat "$f"; first=0; else tail -n +2 "$f"; fi
done > "$out/checks.csv"
((checks == 0)) || echo "run.sh: a kernel check FAILED or did not finish (see above and $out/checks.csv)"

# Stage 2: copy bandwidth, the fused KL sweep, the relation and attention-transfer timings.
set +e
"$bin" --out "$out" ${args[@]+"${args[@]}"} --checks none 2>&1 | tee "$out/gpubench.log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 && $status -ne 1 ]] || [[ ! -f "$csv" ]]; then
  exit "$status"
fi
((checks == 0)) || status=1

if ((torch)) && "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo
  echo "PyTorch composite at the KL sizes measured above:"
  if "$py" "$here/torch_reference.py" --bench-csv "$csv" --out "$out/torch.json" ${quick[@]+"${quick[@]}"} >/dev/null; then
    echo
    "$py" "$here/torch_reference.py" merge "$csv" "$out/torch.json" "$out/comparison.csv"
  else
    echo "the PyTorch KL comparison failed (see above); the bundle's own results stand"
  fi
  if [[ -f "$rel" ]]; then
    echo
    echo "PyTorch composites at the relation and AT sizes measured above:"
    if "$py" "$here/torch_reference.py" relations "$rel" "$out/torch-relations.json" ${quick[@]+"${quick[@]}"}; then
      echo
      "$py" "$here/torch_reference.py" merge-relations "$rel" "$out/torch-relations.json" "$out/relations-comparison.csv"
    else
      echo "the PyTorch relation comparison failed (see above); the bundle's own results stand"
    fi
  fi
elif ((torch)); then
  echo
  echo "PyTorch with CUDA is not installed for $py: skipping the comparisons with the PyTorch composites."
fi

echo
echo "kernel checks on CUDA: $(grep -c ',PASS,' "$out/checks.csv") PASS, $(grep -c ',FAIL,' "$out/checks.csv") FAIL," \
  "$(grep -c 'did not finish' "$out/checks.log") did not finish ($out/checks.log, $out/checks.csv)"
size=""
[[ -f "$here/../gpu-bundle.tar.gz" ]] && size=" (archive $(du -h "$here/../gpu-bundle.tar.gz" | cut -f1))"
echo "bundle: $(du -sh "$here" | cut -f1)${size}; total $((SECONDS - start)) s; results in $out"
exit "$status"
