"""Cross-checks cnnc's optimizers against torch.optim: both train Caffe's LeNet for --steps
steps (default 20) from the same initial weights on the same batches (the first images of
MNIST's training set in file order, batch 64), then every tensor is compared.

  python3 Benchmarks/scripts/pytorch_optimizers.py [--steps 20] [--cnnc .build/release/cnnc]

Both compute in float32, and their layers sum in different orders, so they cannot agree to the
last bit; how far apart two correct float32 runs may drift depends on the optimizer and its
settings (Adam with a larger eps passes tiny gradients' rounding straight into the update). So
the yardstick is PyTorch itself: the same training in float64 is the reference, and cnnc's
float32 weights must be no further from it than twice PyTorch's own float32 weights are.
(A fixed fraction of how far the weights moved would not do: with AdamW at eps 1e-7, PyTorch's
float32 run is itself 3.6% of the movement away from its float64 run.) Prints both distances;
exits 1 if the check fails.
Needs: pip install torch safetensors numpy
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
from pytorch_lenet import MNIST, LeNet, load_split  # noqa: E402

OPTIMIZERS = [
    ("sgd", "{type: sgd, lr: 0.01, momentum: 0.9, weight_decay: 0.0005}",
     lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=5e-4)),
    ("adam", "{type: adam, lr: 0.001, weight_decay: 0.0005}",
     lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=5e-4)),
    ("adamw", "{type: adamw, lr: 0.002, betas: [0.85, 0.995], eps: 1e-7}",
     lambda p: torch.optim.AdamW(p, lr=2e-3, betas=(0.85, 0.995), eps=1e-7)),
]


def spec_with(optimizer, folder):
    lines = []
    with open(os.path.join(ROOT, "Models", "lenet.yaml")) as f:
        for line in f:
            if line.strip().startswith("optimizer:"):
                line = f"  optimizer: {optimizer}\n"
            elif line.strip().startswith("lr_policy:"):
                continue
            line = line.replace("shuffle: true", "shuffle: false")
            line = line.replace("path: data/mnist", f"path: {os.path.abspath(MNIST)}")
            lines.append(line)
    path = os.path.join(folder, "lenet.yaml")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def train(model, make, images, labels, steps, start=None):
    """`steps` steps from `start` (or the model's weights) in the model's precision; integer
    tensors (batchnorm's num_batches_tracked) are loaded as they are."""
    dtype = next(model.parameters()).dtype
    if start is not None:
        model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v
                               for k, v in start.items()})
    optimizer = make(model.parameters())
    model.train()
    for step in range(steps):
        batch = slice(step * 64, (step + 1) * 64)
        loss = F.cross_entropy(model(images[batch].to(dtype)), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.detach() for k, v in model.state_dict().items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cnnc", default=os.path.join(ROOT, ".build", "release", "cnnc"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    images, labels = load_split("train")
    failed = False
    for name, spec_text, make in OPTIMIZERS:
        with tempfile.TemporaryDirectory() as folder:
            torch.manual_seed(1)
            model = LeNet()
            start = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
            save_file(start, os.path.join(folder, "start.safetensors"))
            out = os.path.join(folder, "out.safetensors")
            subprocess.run(
                [args.cnnc, "run", spec_with(spec_text, folder), "--train", "--steps",
                 str(args.steps), "--weights", os.path.join(folder, "start.safetensors"),
                 "--out", out], check=True, capture_output=True)
            ours = load_file(out)
        theirs = train(model, make, images, labels, args.steps)
        exact = train(LeNet().double(), make, images, labels, args.steps, start=start)
        ours = {k: v.double() for k, v in ours.items()}
        ours_off = max((ours[k] - exact[k]).abs().max().item() for k in exact)
        theirs_off = max((theirs[k].double() - exact[k]).abs().max().item() for k in exact)
        moved = max((exact[k] - start[k].double()).abs().max().item() for k in exact)
        ok = ours_off <= 2 * theirs_off
        failed |= not ok
        print(f"{name:6s} {args.steps} steps, largest distance from PyTorch float64: "
              f"cnnc {ours_off:.3g}, PyTorch float32 {theirs_off:.3g} "
              f"(weights moved up to {moved:.3g}) {'ok' if ok else 'FAILED'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
