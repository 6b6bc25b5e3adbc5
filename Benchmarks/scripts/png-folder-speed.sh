#!/usr/bin/env bash
# Training speed from a folder of PNG files against the IDX files they were made from.
# Writes all 70,000 MNIST images as PNGs (one folder per class, by Python's zlib: no extra
# packages), then trains LeNet for STEPS steps (default 400) from each, RUNS times (default 3)
# alternating, at 1 and 2 threads, and prints each run's images/s (optimizer steps, with their
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
  python3 - "$work/png" <<'EOF'
import gzip, os, struct, sys, zlib
out, source = sys.argv[1], "Models/data/mnist"
def idx(name):
    data = gzip.open(f"{source}/{name}.gz").read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]
def png(path, pixels, height, width):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
for split, prefix in (("train", "train"), ("test", "t10k")):
    (count, h, w), images = idx(f"{prefix}-images-idx3-ubyte")
    _, labels = idx(f"{prefix}-labels-idx1-ubyte")
    for label in range(10):
        os.makedirs(f"{out}/{split}/{label}", exist_ok=True)
    for i in range(count):
        png(f"{out}/{split}/{labels[i]}/{i:05d}.png", images[i * h * w:(i + 1) * h * w], h, w)
open(f"{out}/done", "w").close()
EOF
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
