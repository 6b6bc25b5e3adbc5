#!/usr/bin/env python3
"""Random pooling layers' gradients: cnnc against PyTorch, through one training step.

cnnc prints no input gradient, so each case trains one SGD step (lr 1, no momentum, no weight
decay) of a small net whose only learned tensor before the pooling is a per-channel scale (a
1×1 depthwise convolution without bias): input → scale → pooling → dense (3) → softmax, from
the same starting weights in cnnc (`cnnc run --train --steps 1 --weights`) and in PyTorch. The
scale's change is Σ x·(pooling's input gradient) over the batch, so a gradient routed to a
wrong pixel, or spread over the wrong count, changes it. Drawn like scripts/onnx-pooling-check.py
(strides up to 6, ceil and floor), keeping the layers PyTorch accepts (pad ≤ kernel / 2).
Every changed tensor must agree to 1e-5 relative (to max(1, |value|)). Exits 1 otherwise.
Usage: python3 scripts/pooling-gradient-check.py [cases]   (needs pip install torch numpy)
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

from cnnc_build import cnnc_binary

BATCH = 4


def random_case(rng):
    while True:
        kernel = [rng.randint(1, 4), rng.randint(1, 4)]
        pad = [rng.randint(0, k // 2) for k in kernel]
        size = [rng.randint(1, 11), rng.randint(1, 11)]
        stride = [rng.randint(1, 6), rng.randint(1, 6)]
        if all(i + 2 * p >= k for i, p, k in zip(size, pad, kernel)):
            return dict(max=rng.random() < 0.5, kernel=kernel, stride=stride, pad=pad, size=size,
                        channels=rng.randint(1, 3), ceil=rng.random() < 0.7)


def write_safetensors(path, tensors):
    header, offset, data = {}, 0, b""
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header).encode()
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text + data)


def read_safetensors(path):
    raw = open(path, "rb").read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    body = raw[8 + length:]
    return {name: np.frombuffer(body[entry["data_offsets"][0]:entry["data_offsets"][1]],
                                dtype="<f4").reshape(entry["shape"])
            for name, entry in header.items() if name != "__metadata__" and entry["dtype"] == "F32"}


def check(cnnc, case, rng, folder):
    c, (h, w) = case["channels"], case["size"]
    kind = "maxpool" if case["max"] else "avgpool"
    spec = f"""name: poolgrad
input: [{c}, {h}, {w}]
layers:
  - {{type: conv, name: scale, filters: {c}, kernel: 1, groups: {c}, bias: false}}
  - {{type: {kind}, name: pool, kernel: {case['kernel']}, stride: {case['stride']}, pad: {case['pad']}, round: {'ceil' if case['ceil'] else 'floor'}}}
  - {{type: dense, name: fc, units: 3}}
  - {{type: softmax}}
train:
  data: {{format: npy, train: {{images: x.npy, labels: y.npy}}}}
  batch: {BATCH}
  shuffle: false
  optimizer: {{type: sgd, lr: 1.0}}
"""
    open(os.path.join(folder, "spec.yaml"), "w").write(spec)
    images = np.array([rng.uniform(-1, 1) for _ in range(BATCH * c * h * w)],
                      dtype=np.float32).reshape(BATCH, c, h, w)
    labels = np.array([rng.randrange(3) for _ in range(BATCH)], dtype=np.int64)
    np.save(os.path.join(folder, "x.npy"), images)
    np.save(os.path.join(folder, "y.npy"), labels)

    pool = (nn.MaxPool2d if case["max"] else nn.AvgPool2d)(
        case["kernel"], case["stride"], case["pad"], ceil_mode=case["ceil"],
        **({} if case["max"] else {"count_include_pad": True}))
    with torch.no_grad():
        pooled = pool(torch.zeros(1, c, h, w)).numel()
    start = {
        "scale.weight": np.array([rng.uniform(0.5, 1.5) for _ in range(c)],
                                 dtype=np.float32).reshape(c, 1, 1, 1),
        "fc.weight": np.array([rng.uniform(-1, 1) for _ in range(3 * pooled)],
                              dtype=np.float32).reshape(3, pooled),
        "fc.bias": np.array([rng.uniform(-1, 1) for _ in range(3)], dtype=np.float32),
    }
    write_safetensors(os.path.join(folder, "start.safetensors"), start)
    result = subprocess.run(
        [cnnc, "run", os.path.join(folder, "spec.yaml"), "--train", "--steps", "1", "--weights",
         os.path.join(folder, "start.safetensors"), "--out", os.path.join(folder, "after.safetensors")],
        capture_output=True, text=True)
    if result.returncode != 0:
        return False, f"cnnc run failed: {result.stderr.strip()}"
    ours = read_safetensors(os.path.join(folder, "after.safetensors"))

    scale = nn.Conv2d(c, c, 1, groups=c, bias=False)
    fc = nn.Linear(pooled, 3)
    with torch.no_grad():
        scale.weight.copy_(torch.from_numpy(start["scale.weight"]))
        fc.weight.copy_(torch.from_numpy(start["fc.weight"]))
        fc.bias.copy_(torch.from_numpy(start["fc.bias"]))
    net = nn.Sequential(scale, pool, nn.Flatten(), fc)
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    loss = nn.functional.cross_entropy(net(torch.from_numpy(images)), torch.from_numpy(labels))
    loss.backward()
    optimizer.step()
    theirs = {"scale.weight": scale.weight.detach().numpy(), "fc.weight": fc.weight.detach().numpy(),
              "fc.bias": fc.bias.detach().numpy()}
    worst = 0.0
    for name, value in theirs.items():
        if ours[name].shape != value.shape:
            return False, f"{name}: shape {ours[name].shape} against PyTorch's {value.shape}"
        # Compare the changes (the gradients times lr 1), not the weights they were added to.
        change_ours = ours[name].astype(np.float64) - start[name]
        change_theirs = value.astype(np.float64) - start[name]
        worst = max(worst, float((np.abs(change_ours - change_theirs)
                                  / np.maximum(1, np.abs(change_theirs))).max()))
    return worst <= 1e-5, f"largest relative difference of the step's changes {worst:.1e}"


def describe(case):
    return (f"{'maxpool' if case['max'] else 'avgpool'} on {case['channels']}x{case['size'][0]}x"
            f"{case['size'][1]}, kernel {case['kernel']}, stride {case['stride']}, pad {case['pad']}, "
            f"{'ceil' if case['ceil'] else 'floor'}")


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    cnnc = cnnc_binary()
    rng = random.Random(2027)
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for index in range(cases):
            folder = os.path.join(work, str(index))
            os.mkdir(folder)
            case = random_case(rng)
            ok, text = check(cnnc, case, rng, folder)
            if not ok:
                failures += 1
                print(f"FAIL: {describe(case)}: {text}")
    print(f"{'ok' if failures == 0 else 'FAIL'}: {cases - failures} of {cases} random pooling layers: "
          f"one SGD step through them changes the weights as PyTorch {torch.__version__}'s does "
          f"(1e-5)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
