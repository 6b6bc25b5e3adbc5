#!/usr/bin/env python3
"""ResNet-20 (Models/resnet20.yaml, the same net) in PyTorch: training images/s at batch 64 in
eager mode and under torch.compile, and inference images/s of the same net exported to ONNX and
run by ONNX Runtime, on random data, in steady state (warm-up steps first, median of repeats).

Usage: python3 Benchmarks/scripts/pytorch_resnet.py --threads N [--skip-compile]
Prints one line per measurement: "<what> <images/s> images/s".
Needs: pip install torch onnx onnxscript onnxruntime numpy
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    """conv-bn-relu-conv-bn + shortcut, relu; a 1×1 projection with batchnorm when the stride is
    2 (the spec's s2b1_proj / s3b1_proj)."""

    def __init__(self, channels_in, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.projection = None
        if stride != 1:
            self.projection = nn.Sequential(
                nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.projection is None else self.projection(x)
        return torch.relu(y + shortcut)


def resnet20():
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    channels_in = 16
    for stage, channels in enumerate([16, 32, 64]):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(channels_in, channels, stride))
            channels_in = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def training_rate(model, batch, steps, repeats):
    """Images/s of SGD steps (momentum 0.9, weight decay 1e-4, as the spec) on random data."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_function = nn.CrossEntropyLoss()
    images = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up (and compilation under torch.compile)
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def onnxruntime_rate(model, batch, threads, repeats):
    import onnxruntime

    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "resnet20.onnx")
        torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, opset_version=13, dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    images = np.random.default_rng(1).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    for _ in range(3):
        session.run(None, {"x": images})
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(5):
            session.run(None, {"x": images})
        rates.append(batch * 5 / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-compile", action="store_true")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(1)
    model = resnet20()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"resnet20: {parameters} parameters, torch {torch.__version__}, {arguments.threads} thread(s)")
    model.train()
    eager = training_rate(model, arguments.batch, arguments.steps, arguments.repeats)
    print(f"pytorch eager training {eager:.1f} images/s")
    if not arguments.skip_compile:
        compiled = torch.compile(model)
        rate = training_rate(compiled, arguments.batch, arguments.steps, arguments.repeats)
        print(f"torch.compile training {rate:.1f} images/s")
    rate = onnxruntime_rate(model, arguments.batch, arguments.threads, arguments.repeats)
    print(f"onnxruntime inference {rate:.1f} images/s")


if __name__ == "__main__":
    main()
