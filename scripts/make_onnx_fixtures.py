#!/usr/bin/python3
"""Writes the ONNX fixtures tests/test_onnx.cpp imports, made once with PyTorch 1.13
(python3-torch, python3-torchvision from Debian); the tests themselves need no PyTorch.

  tests/fixtures/onnx/lenet.onnx              the classic LeNet as models/lenet.cpp builds it
  tests/fixtures/onnx/mobilenet_v2_035.onnx   torchvision's MobileNetV2, width 0.35, 10 classes
  tests/fixtures/onnx/<model>_io.safetensors  "input" (4 fixed images) and PyTorch's "logits"

Weights are random but seeded. torch.onnx.export in eval mode folds every BatchNorm into
the convolution before it (so the MobileNetV2 file holds Conv with bias, no
BatchNormalization); intrain's own exporter keeps BatchNormalization nodes, and both import.

  /usr/bin/python3 scripts/make_onnx_fixtures.py [out_dir]
"""
import collections
import json
import pathlib
import struct
import sys

import torch
import torchvision

torch.set_num_threads(2)
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/onnx")
out.mkdir(parents=True, exist_ok=True)


def save_safetensors(path, tensors):
    """The safetensors layout (core/safetensors.hpp) written by hand: no extra package."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def lenet():
    n = torch.nn
    return n.Sequential(collections.OrderedDict([
        ("conv1", n.Conv2d(1, 20, 5)), ("relu1", n.ReLU()), ("pool1", n.MaxPool2d(2)),
        ("conv2", n.Conv2d(20, 50, 5)), ("relu2", n.ReLU()), ("pool2", n.MaxPool2d(2)),
        ("flatten", n.Flatten()), ("fc1", n.Linear(800, 500)), ("relu3", n.ReLU()), ("fc2", n.Linear(500, 10))]))


def mobilenet_v2_035():
    m = torchvision.models.mobilenet_v2(width_mult=0.35, num_classes=10)
    # Non-trivial batch-norm statistics, so that folding them into the convolutions matters,
    # kept near 1 so that activations neither vanish nor explode through 17 blocks.
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.0)
            mod.bias.data.uniform_(-0.1, 0.1)
    torch.nn.init.normal_(m.classifier[1].weight, 0, 0.1)
    return m


def export(name, model, input_shape):
    model.eval()
    x = torch.randn(*input_shape)
    with torch.no_grad():
        logits = model(x)
    torch.onnx.export(model, x, str(out / f"{name}.onnx"), opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    save_safetensors(out / f"{name}_io.safetensors", {"input": x, "logits": logits})
    size = (out / f"{name}.onnx").stat().st_size
    print(f"{out / name}.onnx: {size} bytes; logits in [{logits.min():.3f}, {logits.max():.3f}]")


torch.manual_seed(12)
export("lenet", lenet(), (4, 1, 28, 28))
torch.manual_seed(13)
export("mobilenet_v2_035", mobilenet_v2_035(), (4, 3, 32, 32))
