#!/usr/bin/env bash
# Training speed from a folder of PNG files against the IDX files they were made from.
# Writes all 70,000 MNIST images as PNGs (one folder per class, scripts/mnist-to-png.py), then
# trains LeNet for STEPS steps (default 400) from each, RUNS times (default 3) alternating, at 1
# and 2 threads, and prints each run's images/s (optimizer steps, with their
# sample reading and decoding) and wall time (the whole command: opening and checking every
# file included), then the medians and the folder/IDX ratio.
#   Benchmarks/scripts/png-folder-speed.sh [STEPS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps="${1:-400}"
runs="${2:-3}"
swift build -c release --product cnnc >/dev/null
cnnc="$PWD/.build/release/cnnc"
work="${TMPDIR:-/tmp}/cnnc-png-speed"
mkdir -p "$work"

if [ ! -f "$work/png/done" ]; then
  python3 scripts/mnist-to-png.py "$work/png" >/dev/null && touch "$work/png/done"
fi

spec() {  # $1: the data line
  sed "s#data: {format: mnist, path: data/mnist, scale: 0.00390625}#data: $1#" Models/lenet.yaml \
    | sed "s#^name: lenet#name: lenet_speed#"
}
spec "{format: mnist, path: $PWD/Models/data/mnist, scale: 0.00390625}" >"$work/idx.yaml"
spec "{format: folder, train: $work/png/train, test: $work/png/test, scale: 0.00390625}" \
  >"$work/folder.yaml"

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; LeNet batch 64, $steps steps"
for threads in 1 2; do
  for form in idx folder; do : >"$work/$form-$threads.txt"; done
  for run in $(seq "$runs"); do
    for form in idx folder; do
      start=$(date +%s%N)
      json=$("$cnnc" run "$work/$form.yaml" --train --steps "$steps" --threads "$threads" --json \
        --out "$work/$form.safetensors" 2>/dev/null)
      wall=$(( ($(date +%s%N) - start) / 1000000 ))  # milliseconds
      rate=$(echo "$json" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_images_per_second"]))')
      echo "$rate $wall" >>"$work/$form-$threads.txt"
      printf '%d thread(s) run %d %-6s %6d images/s  %6d ms wall\n' "$threads" "$run" "$form" "$rate" "$wall"
    done
  done
  python3 - "$work/idx-$threads.txt" "$work/folder-$threads.txt" "$threads" <<'EOF'
import statistics, sys
idx, folder = ([list(map(float, line.split())) for line in open(p)] for p in sys.argv[1:3])
med = lambda rows, k: statistics.median(r[k] for r in rows)
print(f"{sys.argv[3]} thread(s) medians: IDX {med(idx, 0):.0f} images/s, {med(idx, 1) / 1000:.1f} s wall; "
      f"PNG folder {med(folder, 0):.0f} images/s, {med(folder, 1) / 1000:.1f} s wall; "
      f"folder/IDX {med(folder, 0) / med(idx, 0):.2f} (steps), {med(idx, 1) / med(folder, 1):.2f} (wall)")
EOF
done
