#!/usr/bin/env python3
"""Random pooling layers and convolutions: cnnc against the real ONNX Runtime.

Each case is a one-node ONNX model (MaxPool, AveragePool with count_include_pad=1, or Conv with
random weights and groups) with a random kernel, stride and pad per dimension and, for pooling,
ceil or floor rounding; strides larger than the kernel are drawn often, since there the rounding
formula can place a last window past the input. For each: ONNX Runtime runs the model; `cnnc
import` turns it into a spec and a checkpoint, `cnnc check` must accept the spec, `cnnc run
--weights --input --output` runs the same images, and `cnnc export` writes the spec back to ONNX,
which ONNX Runtime runs again. The output shapes must be equal and the values within 1e-5
(relative to max(1, |value|)). Exits 1 on any disagreement or refusal.
Usage: python3 scripts/onnx-pooling-check.py [cases]   (after the README's test command, whose
build it reuses; needs `pip install onnx onnxruntime numpy`)
"""
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from cnnc_build import cnnc_binary

BATCH = 2


def random_case(rng):
    """A layer whose kernel fits its padded input, as a dict of its settings."""
    while True:
        op = rng.choice(["MaxPool", "AveragePool", "Conv"])
        kernel = [rng.randint(1, 4), rng.randint(1, 4)]
        stride = [rng.randint(1, 6), rng.randint(1, 6)]
        if op == "Conv":
            pad = [rng.randint(0, 2), rng.randint(0, 2)]
        else:
            # ONNX Runtime, like cnnc, requires a pooling pad smaller than the kernel.
            pad = [rng.randint(0, k - 1) for k in kernel]
        size = [rng.randint(1, 11), rng.randint(1, 11)]
        if any(i + 2 * p < k for i, p, k in zip(size, pad, kernel)):
            continue
        groups = rng.choice([1, 1, 2, 3]) if op == "Conv" else 1
        channels = groups * rng.randint(1, 3)
        return dict(op=op, kernel=kernel, stride=stride, pad=pad, size=size, channels=channels,
                    groups=groups, filters=groups * rng.randint(1, 3), ceil=rng.random() < 0.7)


def describe(case):
    text = (f"{case['op']} on {case['channels']}x{case['size'][0]}x{case['size'][1]}, kernel "
            f"{case['kernel']}, stride {case['stride']}, pad {case['pad']}")
    if case["op"] == "Conv":
        return text + f", {case['filters']} filters in {case['groups']} groups"
    return text + (", ceil" if case["ceil"] else ", floor")


def model(case, rng):
    c, (h, w) = case["channels"], case["size"]
    attributes = dict(kernel_shape=case["kernel"], strides=case["stride"],
                      pads=case["pad"] + case["pad"])
    initializers = []
    inputs = ["input"]
    if case["op"] == "Conv":
        shape = [case["filters"], c // case["groups"], *case["kernel"]]
        weight = np.array([rng.uniform(-1, 1) for _ in range(int(np.prod(shape)))],
                          dtype=np.float32).reshape(shape)
        bias = np.array([rng.uniform(-1, 1) for _ in range(case["filters"])], dtype=np.float32)
        initializers = [numpy_helper.from_array(weight, "weight"),
                        numpy_helper.from_array(bias, "bias")]
        inputs += ["weight", "bias"]
        attributes["group"] = case["groups"]
    else:
        attributes["ceil_mode"] = 1 if case["ceil"] else 0
        if case["op"] == "AveragePool":
            attributes["count_include_pad"] = 1
    node = helper.make_node(case["op"], inputs, ["output"], **attributes)
    graph = helper.make_graph(
        [node], "layer", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", c, h, w])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def run_onnx(path, images):
    options = onnxruntime.SessionOptions()
    # ONNX's shape inference keeps a ceil-mode window that starts past the input, which ONNX
    # Runtime's kernels drop; its warning about the two shapes is expected here.
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def agree(theirs, ours):
    """Shapes equal (cnnc's output may be flattened per image) and values within 1e-5."""
    if ours.size != theirs.size or ours.shape[0] != theirs.shape[0]:
        return False, f"shapes differ: ONNX Runtime {theirs.shape}, cnnc {ours.shape}"
    if ours.reshape(theirs.shape).shape != theirs.shape:
        return False, f"shapes differ: ONNX Runtime {theirs.shape}, cnnc {ours.shape}"
    ours = ours.reshape(theirs.shape)
    difference = np.abs(ours.astype(np.float64) - theirs) / np.maximum(1, np.abs(theirs))
    worst = float(difference.max()) if difference.size else 0.0
    return worst <= 1e-5, f"max relative difference {worst:.1e}"


def check(cnnc, case, rng, work, index):
    folder = os.path.join(work, str(index))
    os.mkdir(folder)
    path = lambda name: os.path.join(folder, name)
    onnx.save(model(case, rng), path("layer.onnx"))
    c, (h, w) = case["channels"], case["size"]
    images = np.array([rng.uniform(-1, 1) for _ in range(BATCH * c * h * w)],
                      dtype=np.float32).reshape(BATCH, c, h, w)
    np.save(path("images.npy"), images)
    theirs = run_onnx(path("layer.onnx"), images)
    steps = [
        ["import", path("layer.onnx"), "-o", path("layer.yaml"), "--weights", path("w.safetensors")],
        ["check", path("layer.yaml")],
        ["run", path("layer.yaml"), "--weights", path("w.safetensors"), "--input",
         path("images.npy"), "--output", path("ours.npy")],
        ["export", path("layer.yaml"), "--weights", path("w.safetensors"), "-o", path("back.onnx")],
    ]
    dropped = False
    for arguments in steps:
        result = subprocess.run([cnnc, *arguments], capture_output=True, text=True)
        if result.returncode != 0:
            return False, f"cnnc {arguments[0]} failed: {result.stderr.strip()}", dropped
        dropped = dropped or "is dropped" in result.stderr
    ok, text = agree(theirs, np.load(path("ours.npy")))
    if not ok:
        return False, "cnnc run: " + text, dropped
    again = run_onnx(path("back.onnx"), images)
    ok_back, text_back = agree(theirs, again)
    if not ok_back:
        return False, "cnnc export: " + text_back, dropped
    return True, f"{text}; exported model {text_back}", dropped


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    cnnc = cnnc_binary()
    rng = random.Random(27)
    failures = 0
    counts = {}
    dropping = 0
    with tempfile.TemporaryDirectory() as work:
        for index in range(cases):
            case = random_case(rng)
            ok, text, dropped = check(cnnc, case, rng, work, index)
            dropping += dropped
            counts[case["op"]] = counts.get(case["op"], 0) + 1
            if not ok:
                failures += 1
                print(f"FAIL: {describe(case)}: {text}")
    print(f"{'ok' if failures == 0 else 'FAIL'}: {cases - failures} of {cases} random layers "
          f"({', '.join(f'{n} {op}' for op, n in sorted(counts.items()))}) agree with ONNX Runtime "
          f"{onnxruntime.__version__} in shape and to 1e-5, through cnnc import, run and export; "
          f"in {dropping} of them `cnnc check` dropped a window past the input")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
