#!/usr/bin/env python3
"""The .npy/.npz forms NumPy itself writes train exactly like the IDX files they came from.

Writes 600 training and 200 test images of the shipped MNIST with NumPy as: a pair of .npy
files (uint8, N×H×W), np.savez (stored), np.savez_compressed (deflated, zip64 headers), and
float32 N×H×W×C with `layout: nhwc`; trains `cnnc run --train --steps 30` on each and on the
same images as IDX files, and fails unless all the checkpoints are byte-identical. Then two
hostile archives: a deflated member whose .npy header declares 600 images but which inflates
to 256 MiB more (it must be refused without inflating past the header's size), and one with two
members named images.npy (NumPy reads the last; cnnc must refuse it). Needs numpy.

  python3 scripts/data-formats-check.py [path/to/cnnc]
"""
import gzip
import pathlib
import resource
import subprocess
import sys
import tempfile
import warnings
import zipfile

import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
cnnc = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / ".build/release/cnnc"
mnist = root / "Models/data/mnist"

NET = """name: forms
input: [1, 28, 28]
layers:
  - {type: conv, name: conv, filters: 8, kernel: 5}
  - {type: relu}
  - {type: maxpool, kernel: 2}
  - {type: dense, name: fc, units: 10}
  - {type: softmax}
train:
  data: {DATA}
  batch: 50
  seed: 7
  optimizer: {type: adam, lr: 0.001}
"""


def idx(name):
    data = gzip.open(mnist / f"{name}.gz").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.tobytes())


def main():
    if not cnnc.exists():
        sys.exit(f"{cnnc} not found: build first (swift build -c release)")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cnnc-data-"))
    splits = {
        "train": (idx("train-images-idx3-ubyte")[:600], idx("train-labels-idx1-ubyte")[:600]),
        "test": (idx("t10k-images-idx3-ubyte")[:200], idx("t10k-labels-idx1-ubyte")[:200]),
    }
    for split, (images, labels) in splits.items():
        np.save(folder / f"{split}-x.npy", images)
        np.save(folder / f"{split}-y.npy", labels.astype(np.int64))
        np.savez(folder / f"{split}-stored.npz", images=images, labels=labels.astype(np.int16))
        np.savez_compressed(folder / f"{split}-deflated.npz", images=images, labels=labels)
        np.save(folder / f"{split}-nhwc.npy", images[..., None].astype(np.float32))
        write_idx(folder / f"{split}-images", images)
        write_idx(folder / f"{split}-labels", labels)
    scale = "scale: 0.00390625, mean: 0.1307, std: 0.3081"
    forms = {
        "idx": "format: idx, train: {images: train-images, labels: train-labels}, "
        "test: {images: test-images, labels: test-labels}",
        "npy pair": "format: npy, train: {images: train-x.npy, labels: train-y.npy}, "
        "test: {images: test-x.npy, labels: test-y.npy}",
        "np.savez": "format: npy, train: train-stored.npz, test: test-stored.npz",
        "np.savez_compressed": "format: npy, train: train-deflated.npz, test: test-deflated.npz",
        "float32 nhwc": "format: npy, layout: nhwc, train: {images: train-nhwc.npy, "
        "labels: train-y.npy}, test: {images: test-nhwc.npy, labels: test-y.npy}",
    }
    checkpoints = {}
    for index, (name, form) in enumerate(forms.items()):
        spec = folder / f"form{index}.yaml"
        spec.write_text(NET.replace("{DATA}", "{" + form + ", " + scale + "}"))
        out = folder / f"form{index}.safetensors"
        run = subprocess.run(
            [str(cnnc), "run", str(spec), "--train", "--epochs", "3", "--steps", "30", "--out", str(out)],
            capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"FAIL {name}: cnnc exited {run.returncode}\n{run.stderr}")
        checkpoints[name] = out.read_bytes()
        print(f"{name:20s} {run.stdout.strip()}")
    reference = checkpoints["idx"]
    different = [name for name, data in checkpoints.items() if data != reference]
    if different:
        sys.exit(f"FAIL: checkpoints differ from the IDX run's: {', '.join(different)}")
    print(f"all {len(forms)} forms gave byte-identical checkpoints")
    hostile_archives(folder, splits["train"], scale)


def hostile_archives(folder, train, scale):
    images, labels = train
    header = folder / "header.npy"
    np.save(header, images)
    npy = header.read_bytes()
    # The .npy header and its 470,400 bytes, then 256 MiB of zeros the header does not declare.
    with zipfile.ZipFile(folder / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            member.write(npy)
            zeros = bytes(1 << 20)
            for _ in range(256):
                member.write(zeros)
        archive.writestr("labels.npy", npy_bytes(folder, labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name, as it should
        with zipfile.ZipFile(folder / "twice.npz", "w") as archive:
            archive.writestr("images.npy", npy)
            archive.writestr("images.npy", npy)
            archive.writestr("labels.npy", npy_bytes(folder, labels))
    cases = {
        "bomb.npz": "inflates to more than",
        "twice.npz": "holds two members named 'images.npy'",
    }
    for name, expected in cases.items():
        spec = folder / f"hostile-{name}.yaml"
        spec.write_text(NET.replace("{DATA}", "{format: npy, train: " + name + ", " + scale + "}"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        run = subprocess.run(
            [str(cnnc), "run", str(spec), "--train", "--steps", "1", "--out", str(folder / "h.safetensors")],
            capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if run.returncode != 1 or expected not in run.stderr:
            sys.exit(f"FAIL {name}: exit {run.returncode}, expected '{expected}' in:\n{run.stderr}")
        # ru_maxrss is in KiB: the bomb must not be inflated (256 MiB) on its way to the error.
        if name == "bomb.npz" and max(peak, before) > 128 * 1024:
            sys.exit(f"FAIL {name}: cnnc's peak RSS reached {peak // 1024} MiB")
        print(f"{name}: refused ({run.stderr.strip().splitlines()[-1]})")


def npy_bytes(folder, array):
    path = folder / "scratch.npy"
    np.save(path, array)
    return path.read_bytes()


if __name__ == "__main__":
    main()
