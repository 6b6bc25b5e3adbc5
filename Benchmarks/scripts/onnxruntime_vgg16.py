"""Times VGG-16 inference (configuration D, 3×224×224) in ONNX Runtime at batch 8.

  python3 Benchmarks/scripts/onnxruntime_vgg16.py [--threads 2] [--batch 8] [--repeats 3]

Builds the network of Models/vgg16.yaml in PyTorch (the same layers, torchvision's vgg16
without its adaptive pooling, which is the identity at 224×224), exports it to ONNX with a
symbolic batch and runs it with the CPU provider on random pixels. cnnc's side of the
comparison is `cnnc bench Models/vgg16.yaml --batch 8 --inference-only`.
Needs: pip install torch onnx onnxscript onnxruntime numpy
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16():
    layers, channels = [], 3
    for item in CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
            channels = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000),
                         nn.Softmax(dim=1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(1)
    model = vgg16().eval()
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    path = os.path.join(tempfile.mkdtemp(), "vgg16.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, external_data=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    images = np.random.default_rng(1).random((args.batch, 3, 224, 224), dtype=np.float32)
    session.run(None, {"x": images})
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        session.run(None, {"x": images})
        samples.append(time.perf_counter() - start)
    print(f"onnxruntime {ort.__version__}, {args.threads} thread(s): VGG-16 batch {args.batch} "
          f"{args.batch / statistics.median(samples):.2f} images/s")


if __name__ == "__main__":
    main()
