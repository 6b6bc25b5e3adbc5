"""Times LeNet inference in ONNX Runtime: throughput at batch 64 and batch-1 latency.

  python3 Benchmarks/scripts/onnxruntime_lenet.py [--threads 2] [--checkpoint lenet.safetensors]

Exports the PyTorch LeNet of pytorch_lenet.py (with a cnnc checkpoint's weights when given, so
the outputs can be compared) to ONNX and runs it with the CPU provider. Medians of repeated runs.
Needs: pip install torch onnx onnxruntime safetensors numpy
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch

from pytorch_lenet import LeNet, load_split


def median_seconds(run, repeats, inner):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            run()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()

    model = LeNet().eval()
    if args.checkpoint:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(args.checkpoint), strict=True)
    path = os.path.join(tempfile.mkdtemp(), "lenet.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    images, labels = load_split("t10k")
    batch64 = images[:64].numpy()
    single = images[:1].numpy()
    for _ in range(20):
        session.run(None, {"x": batch64})
    seconds64 = median_seconds(lambda: session.run(None, {"x": batch64}), args.repeats, 50)
    seconds1 = median_seconds(lambda: session.run(None, {"x": single}), args.repeats, 500)
    print(f"onnxruntime {ort.__version__}, {args.threads} thread(s): batch 64 {64 / seconds64:.0f} images/s, "
          f"batch-1 latency {seconds1 * 1e6:.1f} µs")
    if args.checkpoint:
        scores = np.concatenate([session.run(None, {"x": images[i:i + 1000].numpy()})[0] for i in range(0, 10000, 1000)])
        print(f"test accuracy with the checkpoint: {100 * (scores.argmax(1) == labels.numpy()).mean():.2f}%")


if __name__ == "__main__":
    main()
