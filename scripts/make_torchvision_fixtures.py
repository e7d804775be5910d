#!/usr/bin/python3
"""Writes the fixtures the interchange tests compare against, made once with PyTorch
(torch and torchvision from Debian: python3-torch, python3-torchvision). The tests
themselves need no PyTorch.

  tests/fixtures/<model>.keys   every state_dict entry of torchvision's model:
                                "name dtype d0xd1x..." per line, in state_dict order
"""
import pathlib
import sys

import torch
import torchvision

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
out.mkdir(parents=True, exist_ok=True)

models = {
    "mobilenet_v2": torchvision.models.mobilenet_v2(),
    "resnet18": torchvision.models.resnet18(),
}
for name, model in models.items():
    lines = []
    for key, t in model.state_dict().items():
        dtype = str(t.dtype).replace("torch.", "")
        lines.append(f"{key} {dtype} {'x'.join(str(d) for d in t.shape) or 'scalar'}")
    (out / f"{name}.keys").write_text("\n".join(lines) + "\n")
    print(f"{out / name}.keys: {len(lines)} entries")
