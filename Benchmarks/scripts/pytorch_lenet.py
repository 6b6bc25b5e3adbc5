"""Caffe's LeNet in PyTorch, the same net and settings as Models/lenet.yaml.

  python3 Benchmarks/scripts/pytorch_lenet.py train [--epochs 1] [--threads 2] [--init lecun_uniform|glorot_uniform|default]
  python3 Benchmarks/scripts/pytorch_lenet.py load CHECKPOINT.safetensors

`train` trains with batch 64, --init as the spec's `weight_init` (lecun_uniform, as shipped;
`default` is PyTorch's own), SGD (momentum 0.9, weight decay 5e-4, lr 0.01 with Caffe's inv
policy) and prints test accuracy and training images/s. `load` loads a checkpoint written by
`cnnc run --train` with load_state_dict(strict=True) and prints its test accuracy.
Needs: pip install torch safetensors numpy
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, "..", "..", "Models", "data", "mnist")


def idx(name):
    with gzip.open(os.path.join(MNIST, name + ".gz"), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(prefix):
    images = torch.from_numpy(idx(f"{prefix}-images-idx3-ubyte").astype(np.float32) * 0.00390625)
    labels = torch.from_numpy(idx(f"{prefix}-labels-idx1-ubyte").astype(np.int64))
    return images.unsqueeze(1), labels


class LeNet(nn.Module):
    """Layer names match the spec, so cnnc's checkpoint loads with strict=True."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2, 2, ceil_mode=True)
        x = F.max_pool2d(self.conv2(x), 2, 2, ceil_mode=True)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (predictions == labels).float().mean().item()


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_images, train_labels = load_split("train")
    test_images, test_labels = load_split("t10k")
    model = LeNet()
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and args.init != "default":
            if args.init == "glorot_uniform":
                nn.init.xavier_uniform_(module.weight)
            else:  # lecun_uniform, Caffe's xavier filler: uniform(±sqrt(3 / fan_in))
                fan_in = module.weight[0].numel()
                nn.init.uniform_(module.weight, -(3 / fan_in) ** 0.5, (3 / fan_in) ** 0.5)
            nn.init.zeros_(module.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 + 1e-4 * step) ** -0.75)
    batch = 64
    steps = len(train_images) // batch
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_images))
        for step in range(steps):
            index = order[step * batch:(step + 1) * batch]
            loss = F.cross_entropy(model(train_images[index]), train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        seconds = time.perf_counter() - start
        print(f"epoch {epoch + 1}: test accuracy {100 * accuracy(model, test_images, test_labels):.2f}%  "
              f"{(epoch + 1) * steps * batch / seconds:.0f} training images/s")


def load(args):
    from safetensors.torch import load_file
    model = LeNet()
    model.load_state_dict(load_file(args.checkpoint), strict=True)
    test_images, test_labels = load_split("t10k")
    print(f"loaded {args.checkpoint} with strict=True: test accuracy "
          f"{100 * accuracy(model, test_images, test_labels):.2f}%")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train")
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--init", choices=["lecun_uniform", "glorot_uniform", "default"],
                   default="lecun_uniform")
    t.set_defaults(run=train)
    c = commands.add_parser("load")
    c.add_argument("checkpoint")
    c.set_defaults(run=load)
    args = parser.parse_args()
    args.run(args)
