"""Cross-checks cnnc's batchnorm against PyTorch's BatchNorm2d and BatchNorm1d: a small net
with both (conv → bn → relu → pool, twice, then dense → bn → relu → dense) trains --steps steps
(default 3) of plain SGD in cnnc and in PyTorch from the same initial weights on the same
batches (MNIST's first training images in file order, batch 64), then:

- backward and the update: every learned tensor, against PyTorch float64 as the yardstick;
  cnnc's float32 must be no further from it than twice PyTorch's own float32 is;
- running statistics: running_mean and running_var likewise, and num_batches_tracked must
  equal the step count exactly (I64);
- forward in inference: cnnc's outputs for the first 1,000 test images (`cnnc run --weights
  CKPT --output`) against PyTorch's eval-mode outputs from the same checkpoint, in float64;
- the checkpoint loads into the PyTorch module with load_state_dict(strict=True).

  python3 Benchmarks/scripts/pytorch_batchnorm.py [--steps 3] [--cnnc .build/release/cnnc]

Prints each distance; exits 1 if a check fails.
Needs: pip install torch safetensors numpy
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
from pytorch_lenet import MNIST, load_split  # noqa: E402
from pytorch_optimizers import train  # noqa: E402

SPEC = """
name: bncheck
input: [1, 28, 28]
layers:
  - {{type: conv, name: conv1, filters: 8, kernel: 3, pad: 1, bias: false}}
  - {{type: batchnorm, name: bn1}}
  - {{type: relu}}
  - {{type: maxpool, kernel: 2}}
  - {{type: conv, name: conv2, filters: 16, kernel: 3}}
  - {{type: batchnorm, name: bn2, eps: 0.001, momentum: 0.3}}
  - {{type: relu}}
  - {{type: maxpool, kernel: 2}}
  - {{type: dense, name: fc1, units: 32}}
  - {{type: batchnorm, name: bn3}}
  - {{type: relu}}
  - {{type: dense, name: fc2, units: 10}}
  - {{type: softmax}}
train:
  data: {{format: mnist, path: {mnist}, scale: 0.00390625}}
  batch: 64
  epochs: 1
  shuffle: false
  seed: 1
  optimizer: {{type: sgd, lr: 0.1}}
"""


class Net(nn.Module):
    """Names and settings as SPEC, so checkpoints load both ways with strict=True."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.bn2 = nn.BatchNorm2d(16, eps=1e-3, momentum=0.3)
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.bn3 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, ceil_mode=True)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2, ceil_mode=True)
        x = F.relu(self.bn3(self.fc1(x.flatten(1))))
        return self.fc2(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cnnc", default=os.path.join(ROOT, ".build", "release", "cnnc"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    images, labels = load_split("train")
    test_images, _ = load_split("t10k")
    failed = False

    def report(what, ours, theirs):
        nonlocal failed
        ok = ours <= 2 * theirs
        failed |= not ok
        print(f"{what:34s} cnnc {ours:.3g}, PyTorch float32 {theirs:.3g} "
              f"{'ok' if ok else 'FAILED'}")

    with tempfile.TemporaryDirectory() as folder:
        spec = os.path.join(folder, "bncheck.yaml")
        with open(spec, "w") as f:
            f.write(SPEC.format(mnist=os.path.abspath(MNIST)))
        torch.manual_seed(1)
        model = Net()
        # Start from non-trivial batchnorm tensors, so that every one of them matters.
        with torch.no_grad():
            for name, module in model.named_modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                    module.running_mean.uniform_(-0.1, 0.1)
                    module.running_var.uniform_(0.5, 2)
        start = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        start_path = os.path.join(folder, "start.safetensors")
        save_file(start, start_path)
        out = os.path.join(folder, "out.safetensors")
        subprocess.run([args.cnnc, "run", spec, "--train", "--steps", str(args.steps),
                        "--weights", start_path, "--out", out], check=True, capture_output=True)
        ours = load_file(out)
        outputs = os.path.join(folder, "outputs.npy")
        subprocess.run([args.cnnc, "run", spec, "--weights", out, "--output", outputs],
                       check=True, capture_output=True)
        our_outputs = torch.from_numpy(np.load(outputs)[:1000]).double()

    sgd = lambda parameters: torch.optim.SGD(parameters, lr=0.1)  # noqa: E731
    theirs = train(model, sgd, images, labels, args.steps, start=start)
    exact = train(Net().double(), sgd, images, labels, args.steps, start=start)
    print(f"{args.steps} SGD steps; largest distance from PyTorch float64:")
    learned = [k for k in exact if not k.split(".")[-1].startswith(("running", "num_batches"))]
    for group, keys in [("learned tensors (backward)", learned),
                        ("running_mean", [k for k in exact if k.endswith("running_mean")]),
                        ("running_var", [k for k in exact if k.endswith("running_var")])]:
        report(group,
               max((ours[k].double() - exact[k]).abs().max().item() for k in keys),
               max((theirs[k].double() - exact[k]).abs().max().item() for k in keys))
    for k in exact:
        if k.endswith("num_batches_tracked"):
            ok = ours[k].dtype == torch.int64 and ours[k].item() == args.steps
            failed |= not ok
            print(f"{k:34s} cnnc {ours[k].item()} ({ours[k].dtype}) {'ok' if ok else 'FAILED'}")

    # Inference from cnnc's checkpoint: loading it strictly is part of the check.
    reference = Net().double()
    reference.load_state_dict({k: v.double() if v.is_floating_point() else v
                               for k, v in ours.items()}, strict=True)
    single = Net()
    single.load_state_dict(ours, strict=True)
    reference.eval()
    single.eval()
    with torch.no_grad():
        exact_outputs = F.softmax(reference(test_images[:1000].double()), dim=1)
        their_outputs = F.softmax(single(test_images[:1000]), dim=1).double()
    report("inference outputs, 1,000 images",
           (our_outputs - exact_outputs).abs().max().item(),
           (their_outputs - exact_outputs).abs().max().item())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
