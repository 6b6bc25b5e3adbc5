#!/usr/bin/env bash
# Int8 LeNet inference at batch 64, side by side in one run (the issue's targets): cnnc's int8
# kernels against cnnc's own float inference (both from one `cnnc bench --weights INT8`) and
# against ONNX Runtime on its own int8 quantization of the same float weights
# (quantize_static, QDQ; the faster of its int8 and uint8 activations), at 1 and 2 threads.
# Usage: Benchmarks/scripts/int8-compare.sh [FLOAT_CHECKPOINT]  (default: LeNet trained one
# epoch here). Run from the repository root; needs pip install torch onnx onnxruntime numpy.
set -euo pipefail
swift build -c release >/dev/null
cnnc=.build/release/cnnc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F)"
checkpoint=${1:-$work/lenet.safetensors}
[ -f "$checkpoint" ] || "$cnnc" run Models/lenet.yaml --train --out "$checkpoint" >/dev/null
"$cnnc" quantize Models/lenet.yaml --weights "$checkpoint" -o "$work/int8.safetensors" \
  --test-images 1000 >/dev/null
"$cnnc" export Models/lenet.yaml --weights "$checkpoint" -o "$work/lenet.onnx" >/dev/null

field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
for threads in 1 2; do
  report=$("$cnnc" bench Models/lenet.yaml --weights "$work/int8.safetensors" \
    --threads "$threads" --repeats 9 --json)
  int8=$(field int8_images_per_second <<<"$report")
  float=$(field float_images_per_second <<<"$report")
  best=0
  for activations in int8 uint8; do
    line=$(cd Benchmarks/scripts && python3 onnxruntime_int8_lenet.py "$work/lenet.onnx" \
      --threads "$threads" --activations "$activations" 2>/dev/null | tail -1)
    speed=$(sed -n 's/.*batch 64 \([0-9]*\) images\/s.*/\1/p' <<<"$line")
    if [ "$speed" -gt "$best" ]; then best=$speed; kind=$activations; fi
  done
  printf 'lenet int8, batch 64, %d thread(s) [%s]: cnnc int8 %.0f images/s; cnnc float %.0f = %sx; onnxruntime int8 (%s activations) %s = %sx\n' \
    "$threads" "$(field isa <<<"$report")" "$int8" "$float" "$(ratio "$int8" "$float")" \
    "$kind" "$best" "$(ratio "$int8" "$best")"
done
