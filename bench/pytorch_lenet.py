#!/usr/bin/python3
"""PyTorch's side of the LeNet training benchmark: the same network, recipe and data as
bench/train_lenet.cpp (batch 64, SGD lr 0.01 momentum 0.5, MNIST normalized with
0.1307/0.3081), with torch.set_num_threads(2). A benchmark-time peer only: nothing in
intrain needs PyTorch. Run: /usr/bin/python3 bench/pytorch_lenet.py [--epochs N]"""
import argparse
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    images = read_idx(f"{args.data_root}/mnist/train-images-idx3-ubyte").astype(np.float32) / 255.0
    labels = read_idx(f"{args.data_root}/mnist/train-labels-idx1-ubyte").astype(np.int64)
    images = (torch.from_numpy(images).unsqueeze(1) - 0.1307) / 0.3081
    dataset = torch.utils.data.TensorDataset(images, torch.from_numpy(labels))
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True)
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        total, loss_sum = 0, 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += len(y)
            loss_sum += loss.item() * len(y)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"pytorch {torch.__version__} lenet epoch {epoch}: {seconds:.2f} s, {total / seconds:.0f} images/s, "
              f"train loss {loss_sum / total:.4f}, peak memory {peak:.0f} MiB, {args.threads} threads")


if __name__ == "__main__":
    main()
