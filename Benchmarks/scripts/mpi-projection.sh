#!/usr/bin/env bash
# Projects data-parallel training across machines from one machine's measured step time:
# each machine trains BATCH images per step (default 32) with `cnnc bench --threads THREADS`'s
# measured speed, and the gradients (parameters × 4 bytes) cross the network once per step as
# a ring all-reduce would move them, 2(R − 1)/R of them in and out of each machine, in 2(R − 1)
# messages of a fixed latency each (10 µs at 10 Gb/s, TCP over Ethernet; 2 µs at 100 Gb/s,
# RDMA), with no overlap with computation. Step time on R machines = compute +
# bytes / bandwidth + messages × latency; scaling efficiency = compute / that. The last column
# is the exchange cnnc runs today, an all-gather: (R − 1) gradients into each machine, in R − 1
# messages, at 100 Gb/s. Prints docs/distributed.md's table (Markdown).
# Usage: Benchmarks/scripts/mpi-projection.sh   (BATCH=32 THREADS=2; about 5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${BATCH:-32}
threads=${THREADS:-2}
swift build -c release --product cnnc >/dev/null
cnnc="$(swift build -c release --show-bin-path)/cnnc"
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $batch images per machine per step, $threads threads"
echo
echo "| model | parameters | measured step | machines | ring, 10 Gb/s | efficiency | ring, 100 Gb/s | efficiency | all-gather, 100 Gb/s | efficiency |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for model in lenet allconv alexnet vgg16; do
  spec=Models/$model.yaml
  params=$("$cnnc" check "$spec" --json 2>/dev/null | grep -o '"params":[0-9]*' | tail -1 | cut -d: -f2)
  rate=$("$cnnc" bench "$spec" --batch "$batch" --threads "$threads" --repeats 3 --json 2>/dev/null |
    grep -o '"train_images_per_second":[0-9.e+-]*' | cut -d: -f2)
  for machines in 2 8 32 128; do
    awk -v m="$model" -v p="$params" -v r="$rate" -v b="$batch" -v R="$machines" 'BEGIN {
      compute = b / r
      bytes = p * 4 * 2 * (R - 1) / R
      messages = 2 * (R - 1)
      slow = compute + bytes * 8 / 10e9 + messages * 10e-6
      fast = compute + bytes * 8 / 100e9 + messages * 2e-6
      gather = compute + p * 4 * (R - 1) * 8 / 100e9 + (R - 1) * 2e-6
      printf "| %s | %d | %.1f ms | %d | %.1f ms | %.0f%% | %.1f ms | %.0f%% | %.1f ms | %.0f%% |\n",
        m, p, compute * 1000, R, slow * 1000, 100 * compute / slow, fast * 1000,
        100 * compute / fast, gather * 1000, 100 * compute / gather
    }'
  done
done
