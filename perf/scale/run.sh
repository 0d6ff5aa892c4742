#!/bin/bash
# Data-parallel and DML throughput at 1 and 2 ranks (docs/scale.md, "Throughput on this machine").
# Usage: perf/scale/run.sh [path to the built GpuDistill.Cli] [work dir]
# Build first: dotnet build -c Release src/GpuDistill.Cli -o /tmp/gpudistill-bin
set -u
cli=${1:-/tmp/gpudistill-bin/GpuDistill.Cli}
work=${2:-/tmp/gpudistill-scale}
mkdir -p "$work" && cd "$work" || exit 1
common="--student small-cnn --epochs 2 --teacher-epochs 1 --batch-size 128"
mpi="mpirun -np 2 --allow-run-as-root --oversubscribe"
run() {
  name=$1; shift
  rm -rf "out-$name"
  echo "== $name: $* (load $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "wall %e s" "$@" --out "out-$name" > "$name.log" 2>&1
  grep -E "img/s|wall|bytes of its own" "$name.log"
}
run dp1 $cli distill --method none $common
run dp2-local $mpi $cli distill --method none $common --distributed --batch-norm local
run dp2-sync $mpi $cli distill --method none $common --distributed --batch-norm sync
run dml1 $cli distill --scheme dml --peers 2 $common
run dml2 $mpi $cli distill --scheme dml --peers 2 $common --distributed
