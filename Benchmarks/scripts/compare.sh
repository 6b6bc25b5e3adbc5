#!/usr/bin/env bash
# One run of the side-by-side comparison docs/performance.md quotes, every ratio taken within the run:
# cnnc bench against PyTorch training and ONNX Runtime inference on LeNet (1 and 2 threads),
# ResNet-20 training against PyTorch eager and torch.compile and its inference against ONNX
# Runtime (1 and 2 threads), VGG-16 forward at batch 8 against ONNX Runtime, cnnc's GEMM against
# the FMA peak, and the peak RSS of a training run. Run from the repository root (takes about
# 14 minutes);
# needs: pip install torch onnx onnxscript onnxruntime safetensors numpy
set -euo pipefail
swift build -c release >/dev/null
cnnc=.build/release/cnnc
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F)"

field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

for threads in 1 2; do
  report=$($cnnc bench Models/lenet.yaml --threads "$threads" --repeats 9 --json)
  train=$(field train_images_per_second <<<"$report")
  infer=$(field infer_images_per_second <<<"$report")
  latency=$(field batch1_latency_us <<<"$report")
  isa=$(field isa <<<"$report")
  torch_line=$(python3 Benchmarks/scripts/pytorch_lenet.py train --threads "$threads" | tail -1)
  torch_train=$(sed -n 's/.* \([0-9]*\) training images\/s/\1/p' <<<"$torch_line")
  ort_line=$(python3 Benchmarks/scripts/onnxruntime_lenet.py --threads "$threads" 2>/dev/null | grep onnxruntime)
  ort_infer=$(sed -n 's/.*batch 64 \([0-9]*\) images\/s.*/\1/p' <<<"$ort_line")
  ort_latency=$(sed -n 's/.*latency \([0-9.]*\) µs.*/\1/p' <<<"$ort_line")
  printf 'lenet %d thread(s) [%s]: training cnnc %.0f / pytorch %s = %sx; inference b64 cnnc %.0f / onnxruntime %s = %sx; batch-1 cnnc %.1f us / onnxruntime %s us = %sx\n' \
    "$threads" "$isa" "$train" "$torch_train" "$(ratio "$train" "$torch_train")" \
    "$infer" "$ort_infer" "$(ratio "$infer" "$ort_infer")" \
    "$latency" "$ort_latency" "$(ratio "$latency" "$ort_latency")"
done

# ResNet-20 against PyTorch eager, torch.compile and ONNX Runtime (one round).
Benchmarks/scripts/resnet-compare.sh 1

for threads in 1 2; do
  vgg=$($cnnc bench Models/vgg16.yaml --batch 8 --threads "$threads" --repeats 3 --inference-only --json | field infer_images_per_second)
  ort_vgg=$(python3 Benchmarks/scripts/onnxruntime_vgg16.py --threads "$threads" 2>/dev/null | sed -n 's/.* \([0-9.]*\) images\/s/\1/p')
  printf 'vgg16 batch 8, %d thread(s): cnnc %.2f / onnxruntime %s images/s = %sx\n' \
    "$threads" "$vgg" "$ort_vgg" "$(ratio "$vgg" "$ort_vgg")"
done

for shape in "256 256 256" "50 64 500" "50 500 64" "500 64 50" "20 576 25" "64 500 800" "500 800 64" "64 800 500"; do
  $cnnc bench --gemm $shape | tail -3 | tr '\n' ';' | sed 's/;$/\n/'
done
$cnnc bench --gemm 8 8 8 | sed -n 2p

/usr/bin/time -f "cnnc run Models/lenet.yaml --train --threads 2: peak RSS %M KB, %e s wall" \
  $cnnc run Models/lenet.yaml --train --threads 2 --out /tmp/compare-lenet.safetensors --json 2>&1 >/dev/null | tail -1
