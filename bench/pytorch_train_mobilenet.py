#!/usr/bin/python3
"""PyTorch's side of the MobileNet training benchmark (bench/train_mobilenet.cpp): MobileNetV1
width 0.75 with the small-input stem (stride 1), 10 classes, 32x32 RGB at batch 128, one
step = forward, cross entropy, backward, SGD (momentum 0.9, weight decay 5e-4) on a fixed
random batch, torch.set_num_threads(2). Benchmark-time only. Each run times the four ways
PyTorch can train it: eager f32, channels_last, bf16 autocast (torch.cpu.amp.autocast) and
both; --image-size 224 uses the standard stride-2 stem.
Run: /usr/bin/python3 bench/pytorch_train_mobilenet.py [--steps N] [--batch-size B] [--image-size S]"""
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
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    for channels_last, bf16 in ((False, False), (True, False), (False, True), (True, True)):
        run(args, channels_last, bf16)


def run(args, channels_last, bf16):
    torch.manual_seed(1)
    stem_stride = 1 if args.image_size <= 64 else 2
    model = MobileNetV1(0.75, classes=10, stem_stride=stem_stride).train()
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    targets = torch.arange(args.batch_size) % 10

    def step():
        optimizer.zero_grad()
        with torch.cpu.amp.autocast(enabled=bf16, dtype=torch.bfloat16):
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
    mode = ("channels_last" if channels_last else "eager") + (" + bf16 autocast" if bf16 else " f32")
    print(f"pytorch {torch.__version__} mobilenet_v1 0.75, {args.image_size}x{args.image_size}, batch {args.batch_size}, "
          f"{mode}, 2 threads: {1e3 * seconds / args.steps:.1f} ms/step, "
          f"{args.batch_size * args.steps / seconds:.0f} images/s, loss {loss:.3f}, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
