#!/usr/bin/env python3
"""Writes the shipped MNIST as PNG files, one folder per class: OUT/train/<digit>/NNNNN.png and
OUT/test/<digit>/NNNNN.png (NNNNN: the image's index in its IDX file). Standard library only (the
PNGs are written with zlib), so it runs anywhere cnnc's scripts do.

  python3 scripts/mnist-to-png.py OUT [COUNT]   # COUNT: only the first COUNT of each split
"""
import gzip
import os
import pathlib
import struct
import sys
import zlib

source = pathlib.Path(__file__).resolve().parent.parent / "Models/data/mnist"


def idx(name):
    data = gzip.open(source / f"{name}.gz").read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def png(path, pixels, height, width):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + pixels[y * width : (y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                   + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def main():
    out = pathlib.Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (count, height, width), images = idx(f"{prefix}-images-idx3-ubyte")
        _, labels = idx(f"{prefix}-labels-idx1-ubyte")
        for label in range(10):
            os.makedirs(out / split / str(label), exist_ok=True)
        for i in range(min(count, limit or count)):
            pixels = images[i * height * width : (i + 1) * height * width]
            png(out / split / str(labels[i]) / f"{i:05d}.png", pixels, height, width)
    print(f"wrote {out}/train and {out}/test")


if __name__ == "__main__":
    main()
