#!/usr/bin/env bash
# One run of the side-by-side comparison the README quotes: cnnc bench, PyTorch training and
# ONNX Runtime inference on LeNet, 1 and 2 threads, and the peak RSS of a training run.
# Run from the repository root; needs: pip install torch onnx onnxscript onnxruntime safetensors
set -euo pipefail
swift build -c release >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
for threads in 1 2; do
  .build/release/cnnc bench Models/lenet.yaml --threads "$threads" --repeats 9 --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("cnnc %d thread(s): training %.0f images/s (%.1f GFLOP/s), inference batch 64 %.0f images/s, batch-1 latency %.1f us"
      % (r["threads"], r["train_images_per_second"], r["gflops"], r["infer_images_per_second"], r["batch1_latency_us"]))'
  python3 Benchmarks/scripts/pytorch_lenet.py train --threads "$threads" | sed "s/^/pytorch $threads thread(s): /"
  python3 Benchmarks/scripts/onnxruntime_lenet.py --threads "$threads" 2>/dev/null | grep onnxruntime
done
/usr/bin/time -f "cnnc run Models/lenet.yaml --train --threads 2: peak RSS %M KB, %e s wall" \
  .build/release/cnnc run Models/lenet.yaml --train --threads 2 --out /tmp/compare-lenet.safetensors --json 2>&1 >/dev/null | tail -1
