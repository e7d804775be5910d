#!/usr/bin/python3
"""PyTorch's side of the MobileNet training benchmark (bench/train_mobilenet.cpp): MobileNetV1
width 0.75 with the small-input stem (stride 1), 10 classes, 32x32 RGB at batch 128, one
step = forward, cross entropy, backward, SGD (momentum 0.9, weight decay 5e-4) on a fixed
random batch, torch.set_num_threads(2). Benchmark-time only.
Run: /usr/bin/python3 bench/pytorch_train_mobilenet.py [--steps N] [--batch-size B]"""
import argparse
import resource
import time

import torch
import torch.nn as nn

from pytorch_mobilenet import MobileNetV1  # bench/, the script's folder, is on sys.path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(1)
    model = MobileNetV1(0.75, classes=10, stem_stride=1).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    images = torch.randn(args.batch_size, 3, 32, 32)
    targets = torch.arange(args.batch_size) % 10

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(images), targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {torch.__version__} mobilenet_v1 0.75, 32x32, batch {args.batch_size}, 2 threads: "
          f"{1e3 * seconds / args.steps:.1f} ms/step, {args.batch_size * args.steps / seconds:.0f} images/s, "
          f"loss {loss:.3f}, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
