#!/usr/bin/env bash
# Measures the rules that decide when inference takes Winograd (Sources/CNNC/Kernels/
# Winograd.swift): builds two variants of the current tree in a scratch worktree, one that never
# takes it and one that takes it for every window it can compute (no channel rule, no 256-tile
# rule), and times each with `cnnc bench --inference-only`:
#   - three stacked 3×3 layers (pad 1) of C channels and filters, C in 16 32 64, on 14/28/56 planes;
#   - three stacked 5×5 layers (pad 2) of C channels and filters, C in 8 16 32, on 12/28 planes;
#   - LeNet's batch-1 latency.
# Prints images/s of both and their ratio. Run from the repository root (about 6 minutes).
set -euo pipefail
root=$PWD
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F)"
git worktree add -q --detach "$work/tree" HEAD
rule=Sources/CNNC/Kernels/Winograd.swift
build() {  # $1: variant name; $2: sed program applied to the rule
  (cd "$work/tree" && git checkout -q -- "$rule" && sed -i "$2" "$rule" &&
    swift build -c release --product cnnc >/dev/null 2>&1 && cp .build/release/cnnc "$work/cnnc-$1")
}
build never 's/guard !training, applies,/guard false, applies,/'
build always 's/let least = window.kernel_h == 3 ? 64 : 16/let least = 1/; s/guard batch \* tiles >= 256 else { return nil }//'

speed() {  # $1: variant, $2: spec, $3: batch
  "$work/cnnc-$1" bench "$2" --batch "$3" --repeats 5 --inference-only --json |
    python3 -c "import json, sys; print(json.load(sys.stdin)['infer_images_per_second'])"
}
stack() {  # $1: kernel, $2: channels, $3: plane, $4: pad
  local spec="$work/k$1-c$2-$3.yaml"
  {
    echo "input: [$2, $3, $3]"
    echo "layers:"
    for n in 1 2 3; do echo "  - {type: conv, name: conv$n, filters: $2, kernel: $1, pad: $4}"; done
  } >"$spec"
  local never always
  never=$(speed never "$spec" 8)
  always=$(speed always "$spec" 8)
  python3 -c "import sys; n, a = map(float, sys.argv[1:3]); print(f'$1x$1 c$2 $3x$3 batch 8: GEMM {n:.0f} / Winograd {a:.0f} images/s = {a / n:.2f}x')" "$never" "$always"
}
for c in 16 32 64; do for plane in 14 28 56; do stack 3 "$c" "$plane" 1; done; done
for c in 8 16 32; do for plane in 12 28; do stack 5 "$c" "$plane" 2; done; done
for variant in never always; do
  latency=$("$work/cnnc-$variant" bench "$root/Models/lenet.yaml" --repeats 9 --inference-only --json |
    python3 -c "import json, sys; print(json.load(sys.stdin)['batch1_latency_us'])")
  echo "lenet batch-1 latency, $variant Winograd: $latency us"
done
