#!/usr/bin/env python3
"""Tiny MNIST-format IDX files for the CLI tests: each image's class is a bright row band
(row band = label), so a few training steps learn it.
  tiny_mnist.py TRAIN TEST SEED [--random-labels]   writes data/mnist/ under the current folder
Labels cycle 0..9 unless --random-labels; the same arguments give the same bytes."""
import os
import random
import struct
import sys


def idx(path, dims, data):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data))


def main():
    train, test, seed = (int(a) for a in sys.argv[1:4])
    random_labels = "--random-labels" in sys.argv[4:]
    random.seed(seed)
    os.makedirs("data/mnist", exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        labels = [random.randrange(10) if random_labels else i % 10 for i in range(n)]
        pixels = [min(255, (l * 25 + random.randrange(60)) if (p // 28) % 10 == l else random.randrange(40))
                  for l in labels for p in range(784)]
        idx(f"data/mnist/{split}-images-idx3-ubyte", (n, 28, 28), pixels)
        idx(f"data/mnist/{split}-labels-idx1-ubyte", (n,), labels)


if __name__ == "__main__":
    main()
