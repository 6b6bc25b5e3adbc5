#!/usr/bin/env python3
"""Every shipped MNIST model through `cnnc export` and the real ONNX Runtime.

For each spec in Models/ that trains on MNIST, and scripts/onnx/every-layer.yaml (the layer
kinds and options the shipped models leave out): 20 training steps (so that the weights are not
the initialiser's), `cnnc export`, `onnx.checker` (full check, with shape inference), then
ONNX Runtime and `cnnc run --weights ... --output` over the 10,000 test images: the largest
difference of the probabilities must be at most 1e-4 and every argmax the same. Exits 1 on
any model that fails. Then, when torch is installed, a LeNet exported by PyTorch goes through
`cnnc import` and the same comparison. Needs `pip install onnx onnxruntime numpy`.
Usage: python3 scripts/onnx-export-check.py   (after the README's test command, whose build
it reuses)
"""
import gzip
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime

from cnnc_build import ROOT, cnnc_binary


def test_images(spec_path):
    """The spec's MNIST test images, scaled as the spec says, as (N, 1, 28, 28) float32."""
    text = open(spec_path).read()
    folder = re.search(r"path:\s*([^,}\s]+)", text).group(1)
    scale = float(re.search(r"scale:\s*([0-9.eE+-]+)", text).group(1))
    path = os.path.join(os.path.dirname(spec_path), folder, "t10k-images-idx3-ubyte.gz")
    raw = gzip.open(path).read()
    count, rows, columns = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).astype(np.float32)
    # The same float operation as cnnc: each pixel byte times the scale, in float32.
    return (pixels * np.float32(scale)).reshape(count, 1, rows, columns)


def check(cnnc, spec, work):
    name = os.path.splitext(os.path.basename(spec))[0]
    weights = os.path.join(work, name + ".safetensors")
    model = os.path.join(work, name + ".onnx")
    outputs = os.path.join(work, name + ".npy")
    run = lambda *args: subprocess.run([cnnc, *args], check=True, capture_output=True, text=True)
    run("run", spec, "--train", "--steps", "20", "--out", weights)
    run("export", spec, "--weights", weights, "-o", model)
    run("run", spec, "--weights", weights, "--output", outputs)
    onnx.checker.check_model(onnx.load(model), full_check=True)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    images = test_images(spec)
    theirs = np.concatenate([
        session.run(None, {"input": images[start:start + 1000]})[0].reshape(-1, 10)
        for start in range(0, len(images), 1000)])
    ours = np.load(outputs)
    difference = float(np.abs(theirs - ours).max())
    same_argmax = bool((theirs.argmax(1) == ours.argmax(1)).all())
    ops = sorted({node.op_type for node in onnx.load(model).graph.node})
    ok = difference <= 1e-4 and same_argmax
    print(f"{'ok' if ok else 'FAIL'}: {name}: max |difference| {difference:.2e}, argmax "
          f"{'identical' if same_argmax else 'DIFFERS'} on {len(images)} images ({', '.join(ops)})")
    return ok


def import_and_compare(cnnc, model, work, input_name):
    """`cnnc import` of `model`, run over the MNIST test set (LeNet's data section added), against
    ONNX Runtime on the same file: (max |difference|, argmax identical, import's stderr)."""
    base = os.path.join(work, os.path.splitext(os.path.basename(model))[0])
    spec, weights, outputs = base + ".yaml", base + ".safetensors", base + ".npy"
    imported = subprocess.run([cnnc, "import", model, "-o", spec, "--weights", weights],
                              check=True, capture_output=True, text=True)
    lenet = os.path.join(ROOT, "Models", "lenet.yaml")
    data = re.search(r"data:.*", open(lenet).read()).group(0)
    data = data.replace("path: data/mnist", "path: " + os.path.join(ROOT, "Models", "data", "mnist"))
    with open(spec, "a") as file:
        file.write("train:\n  " + data + "\n")
    subprocess.run([cnnc, "run", spec, "--weights", weights, "--output", outputs], check=True,
                   capture_output=True)
    images = test_images(lenet)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    theirs = np.concatenate([session.run(None, {input_name: images[start:start + 1000]})[0]
                             for start in range(0, len(images), 1000)])
    ours = np.load(outputs)
    difference = float(np.abs(theirs - ours).max())
    return difference, bool((theirs.argmax(1) == ours.argmax(1)).all()), imported.stderr


def check_torch_import(cnnc, work):
    """A LeNet exported by PyTorch's own ONNX exporter, through `cnnc import`, against ONNX
    Runtime on the same file. Runs when torch is installed (pip install torch)."""
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        print("skipped: PyTorch's export through cnnc import (torch is not installed)")
        return True
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5),
                        nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(),
                        nn.Linear(500, 10), nn.Softmax(dim=1)).eval()
    model = os.path.join(work, "torch-lenet.onnx")
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), model, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, opset_version=13, dynamo=False)
    difference, same_argmax, _ = import_and_compare(cnnc, model, work, "x")
    ok = difference <= 1e-4 and same_argmax
    print(f"{'ok' if ok else 'FAIL'}: PyTorch {torch.__version__}'s LeNet export imported: max "
          f"|difference| {difference:.2e}, argmax {'identical' if same_argmax else 'DIFFERS'}")
    return ok


def check_declared_output(cnnc, work):
    """cnnc's LeNet export with its declared output moved to the logits before the softmax: the
    softmax becomes a dead node, and the import must answer what ONNX Runtime answers for the
    declared output (it once took the last node, a difference of 6.6)."""
    model = onnx.load(os.path.join(work, "lenet.onnx"))
    softmax = model.graph.node[-1]
    assert softmax.op_type == "Softmax", softmax.op_type
    model.graph.output[0].name = softmax.input[0]
    logits = os.path.join(work, "lenet-logits.onnx")
    onnx.save(model, logits)
    difference, same_argmax, stderr = import_and_compare(cnnc, logits, work, "input")
    noted = "does not depend on left out" in stderr and "Softmax" in stderr
    ok = difference <= 1e-4 and same_argmax and noted
    print(f"{'ok' if ok else 'FAIL'}: the declared output decides the import: logits before a "
          f"dead softmax, max |difference| {difference:.2e} over the test set, "
          f"{'with' if noted else 'WITHOUT'} a note naming the dropped node")
    return ok


def main():
    cnnc = cnnc_binary()
    specs = [os.path.join(ROOT, folder, f) for folder in ("Models", "scripts/onnx")
             for f in sorted(os.listdir(os.path.join(ROOT, folder))) if f.endswith(".yaml")]
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for spec in specs:
            if "format: mnist" not in open(spec).read():
                print(f"skipped: {os.path.basename(spec)} has no MNIST data to train a few steps on")
                continue
            failures += 0 if check(cnnc, spec, work) else 1
        failures += 0 if check_torch_import(cnnc, work) else 1
        failures += 0 if check_declared_output(cnnc, work) else 1
    print(f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
