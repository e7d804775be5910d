#!/usr/bin/python3
"""The PyTorch side of the interchange measurement (bench/interchange.cpp is ours): models
made in PyTorch, saved as plain safetensors state dicts with PyTorch's own names, and the
inputs and logits to compare against. Writes into OUT (default runs/interchange):

  lenet.safetensors          a LeNet (conv1/conv2/fc1/fc2) trained one epoch on MNIST in PyTorch
  lenet.data.safetensors     the 10,000 MNIST test images as PyTorch normalized them, labels, logits
  <model>.safetensors        torchvision mobilenet_v2 / resnet18, random weights, batch norm
                             recalibrated on the sample photos (cumulative statistics)
  <model>.data.safetensors   the photos as torchvision's eval transform makes them, logits

  /usr/bin/python3 bench/pytorch_interchange.py [--mnist data/mnist] [--photos ../shared/data/imagenet-sample] [--out DIR]
"""
import argparse
import gzip
import pathlib
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision import transforms

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "scripts"))
from make_pytorch_fixtures import LeNet, save_safetensors  # noqa: E402  (one writer, one LeNet)

torch.set_num_threads(2)


def read_idx(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(dir, split):
    images = read_idx(next(dir.glob(f"{split}-images-idx3-ubyte*")))
    labels = read_idx(next(dir.glob(f"{split}-labels-idx1-ubyte*")))
    x = (torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1) - 0.1307) / 0.3081
    return x, torch.from_numpy(labels.astype(np.int64))


def lenet(args, out):
    torch.manual_seed(0)
    x, y = mnist(args.mnist, "train")
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.time()
    for i in torch.randperm(len(x)).split(64):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()
    model.eval()
    tx, ty = mnist(args.mnist, "t10k")
    with torch.no_grad():
        logits = model(tx)
    accuracy = (logits.argmax(1) == ty).float().mean().item()
    save_safetensors(out / "lenet.safetensors", model.state_dict())
    save_safetensors(out / "lenet.data.safetensors", {"input": tx, "labels": ty.int(), "logits": logits})
    print(f"lenet: trained one epoch in {time.time() - start:.0f} s, PyTorch test accuracy {100 * accuracy:.2f}%")


def photos(dir):
    t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    data = torchvision.datasets.ImageFolder(str(dir), transform=t)
    return torch.stack([data[i][0] for i in range(len(data))])


def torchvision_model(name, images, out):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    for m in model.modules():  # cumulative statistics over the photos instead of ImageNet's
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for batch in images.split(20):
            model(batch)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(b) for b in images.split(20)])
    save_safetensors(out / f"{name}.safetensors", model.state_dict())
    save_safetensors(out / f"{name}.data.safetensors", {"input": images, "logits": logits})
    print(f"{name}: random weights, batch norm recalibrated on {len(images)} photos")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mnist", type=pathlib.Path, default=pathlib.Path("data/mnist"))
    p.add_argument("--photos", type=pathlib.Path, default=pathlib.Path("../shared/data/imagenet-sample"))
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/interchange"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lenet(args, args.out)
    images = photos(args.photos)
    for name in ["mobilenet_v2", "resnet18"]:
        torchvision_model(name, images, args.out)


if __name__ == "__main__":
    main()
