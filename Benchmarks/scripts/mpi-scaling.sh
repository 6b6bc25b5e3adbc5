#!/usr/bin/env bash
# Training throughput across processes: 1 process × 1 thread, 1 process × 2 threads and
# 2 processes × 1 thread (mpirun over shared memory), run in turn ROUNDS times; prints each
# layout's median images/s over the optimizer steps alone (train_images_per_second: evaluation
# and saving left out) and the ratios docs/distributed.md quotes.
# Usage: Benchmarks/scripts/mpi-scaling.sh [SPEC]   (STEPS=300 ROUNDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
spec=$PWD/${1:-Models/lenet.yaml}
steps=${STEPS:-300}
rounds=${ROUNDS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build -c release --product cnnc >/dev/null
cnnc="$(swift build -c release --show-bin-path)/cnnc"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

rate() { grep -o '"train_images_per_second":[0-9.e+-]*' | cut -d: -f2; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for round in $(seq "$rounds"); do
  "$cnnc" run "$spec" --train --json --steps "$steps" --threads 1 --out a.safetensors 2>/dev/null |
    rate >>one-thread
  "$cnnc" run "$spec" --train --json --steps "$steps" --threads 2 --out b.safetensors 2>/dev/null |
    rate >>two-threads
  mpirun --oversubscribe -np 2 --mca btl self,vader "$cnnc" run "$spec" --train --json \
    --steps "$steps" --out c.safetensors 2>/dev/null | rate >>two-ranks
  echo "round $round: $(tail -1 one-thread) $(tail -1 two-threads) $(tail -1 two-ranks) images/s" >&2
done
one=$(median <one-thread)
threads=$(median <two-threads)
ranks=$(median <two-ranks)
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(basename "$spec"), $steps steps, medians of $rounds rounds"
printf '1 process  x 1 thread : %8.0f images/s\n' "$one"
printf '1 process  x 2 threads: %8.0f images/s  (%.2fx one thread)\n' "$threads" "$(echo "$threads / $one" | bc -l)"
printf '2 processes x 1 thread: %8.0f images/s  (%.2fx one thread, %.2fx two threads)\n' \
  "$ranks" "$(echo "$ranks / $one" | bc -l)" "$(echo "$ranks / $threads" | bc -l)"
