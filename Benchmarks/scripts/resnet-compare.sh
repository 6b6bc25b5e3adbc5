#!/usr/bin/env bash
# ResNet-20 (Models/resnet20.yaml; the same net in Benchmarks/scripts/pytorch_resnet.py), ROUNDS
# rounds (default 3) of: training at batch 64 against PyTorch eager and torch.compile, inference
# against ONNX Runtime on PyTorch's export of it, and the training step's GFLOP/s as a fraction
# of the FMA peak, at 1 and 2 threads; every ratio taken within its round, then the median of
# each ratio over the rounds. Run from the repository root (about 5 minutes a round); needs:
# pip install torch onnx onnxscript onnxruntime numpy
set -euo pipefail
rounds=${1:-3}
swift build -c release >/dev/null
cnnc=.build/release/cnnc
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p')); $(date -u +%F)"

field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
ratios=$(mktemp)
trap 'rm -f "$ratios"' EXIT

peak=$($cnnc bench --gemm 8 8 8 --json | field fma_peak_gflops)
for round in $(seq "$rounds"); do
  for threads in 1 2; do
    report=$($cnnc bench Models/resnet20.yaml --threads "$threads" --repeats 5 --json)
    train=$(field train_images_per_second <<<"$report")
    infer=$(field infer_images_per_second <<<"$report")
    gflops=$(field gflops <<<"$report")
    torch_lines=$(python3 Benchmarks/scripts/pytorch_resnet.py --threads "$threads" 2>/dev/null)
    eager=$(sed -n 's/^pytorch eager training \([0-9.]*\) images\/s/\1/p' <<<"$torch_lines")
    compiled=$(sed -n 's/^torch.compile training \([0-9.]*\) images\/s/\1/p' <<<"$torch_lines")
    ort=$(sed -n 's/^onnxruntime inference \([0-9.]*\) images\/s/\1/p' <<<"$torch_lines")
    of_peak=$(ratio "$gflops" "$(python3 -c "print($peak * $threads)")")
    printf 'resnet20 round %d, %d thread(s): training cnnc %.0f / eager %s = %sx, / torch.compile %s = %sx (cnnc %.1f GFLOP/s, %s of the FMA peak of %.1f GFLOP/s per core); inference b64 cnnc %.0f / onnxruntime %s = %sx\n' \
      "$round" "$threads" "$train" "$eager" "$(ratio "$train" "$eager")" "$compiled" "$(ratio "$train" "$compiled")" \
      "$gflops" "$of_peak" "$peak" "$infer" "$ort" "$(ratio "$infer" "$ort")"
    echo "$threads $(ratio "$train" "$eager") $(ratio "$train" "$compiled") $of_peak $(ratio "$infer" "$ort")" >>"$ratios"
  done
done
for threads in 1 2; do
  awk -v t="$threads" '$1 == t' "$ratios" | python3 -c '
import statistics, sys
rows = [list(map(float, line.split()[1:])) for line in sys.stdin]
m = [statistics.median(column) for column in zip(*rows)]
print(f"resnet20 {sys.argv[1]} thread(s), medians of {len(rows)} round(s): training {m[0]:.2f}x eager, "
      f"{m[1]:.2f}x torch.compile, {m[2]:.2f} of the FMA peak; inference {m[3]:.2f}x onnxruntime")' "$threads"
done
