#!/usr/bin/python3
"""Writes the fixtures the PyTorch-interchange tests compare against, made once with
PyTorch 1.13 from Debian (python3-torch, python3-torchvision). The tests need no PyTorch.

  tests/fixtures/<model>.keys        torchvision's state_dict entries, "name dtype d0xd1x..."
                                     per line (mobilenet_v2, resnet18)
  tests/fixtures/<model>.safetensors a seeded PyTorch model's state_dict exactly as PyTorch
                                     holds it (num_batches_tracked int64, some tensors stored
                                     as float16/bfloat16 to exercise the readers), 4 input
                                     images "input" [4,1,28,28] and PyTorch's "logits" [4,10]
                                     (lenet, lenet5_bn: the classic conv1/conv2/fc1/fc2 names)

The safetensors writer is the format's few lines (the python3-safetensors package is not in
Debian 12): 8-byte little-endian header length, JSON header, raw little-endian data.
"""
import json
import pathlib
import struct
import sys

import torch
import torch.nn as nn
import torchvision

TAGS = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
        torch.int64: "I64", torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8"}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {"dtype": TAGS[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class LeNet(nn.Module):  # models/lenet.cpp: lenet
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class LeNet5BN(nn.Module):  # models/lenet.cpp: lenet5_bn
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16)
        self.conv3, self.bn3 = nn.Conv2d(16, 120, 5), nn.BatchNorm2d(120)
        self.fc1, self.fc2 = nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.relu(self.bn3(self.conv3(x))).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))


def main():
    torch.set_num_threads(2)
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
    out.mkdir(parents=True, exist_ok=True)
    for name, model in {"mobilenet_v2": torchvision.models.mobilenet_v2(),
                        "resnet18": torchvision.models.resnet18()}.items():
        lines = []
        for key, t in model.state_dict().items():
            dtype = str(t.dtype).replace("torch.", "")
            lines.append(f"{key} {dtype} {'x'.join(str(d) for d in t.shape) or 'scalar'}")
        (out / f"{name}.keys").write_text("\n".join(lines) + "\n")
        print(f"{out / name}.keys: {len(lines)} entries")

    torch.manual_seed(0)
    images = torch.rand(4, 1, 28, 28)
    for name, model in {"lenet": LeNet(), "lenet5_bn": LeNet5BN()}.items():
        if name == "lenet5_bn":  # move the running statistics off their defaults
            model.train()
            with torch.no_grad():
                for _ in range(3):
                    model(torch.randn(16, 1, 28, 28))
        model.eval()
        with torch.no_grad():
            logits = model(images)
        state = dict(model.state_dict())
        if name == "lenet5_bn":  # other stored types, read as f32 (values chosen exact in them)
            state["bn1.weight"] = state["bn1.weight"].half()
            state["bn2.weight"] = state["bn2.weight"].bfloat16()
            state["bn3.weight"] = state["bn3.weight"].double()
            with torch.no_grad():
                model.bn1.weight.copy_(state["bn1.weight"].float())
                model.bn2.weight.copy_(state["bn2.weight"].float())
                logits = model(images)
        save_safetensors(out / f"{name}.safetensors", {**state, "input": images, "logits": logits})
        print(f"{out / name}.safetensors: {len(state)} state entries, logits {list(logits.shape)}")


if __name__ == "__main__":  # bench/pytorch_interchange.py imports the writer and the LeNets
    main()
