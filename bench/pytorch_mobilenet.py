#!/usr/bin/python3
"""PyTorch's side of the inference benchmark (bench/infer_mobilenet.cpp), at 224x224 with
torch.set_num_threads(2): float (eager, and its fastest path: torch.jit.optimize_for_inference
of the frozen TorchScript), and int8 by eager-mode post-training quantization on each
quantized engine this build has (onednn, fbgemm, qnnpack), eager and as frozen TorchScript
(torch.jit.freeze(torch.jit.trace(...)), its fastest int8 path). Batch 1 latency and batch 16
throughput, timed as the C++ side times them (best of --rounds rounds, three by default). MobileNetV1 is written
out here (torchvision has none); MobileNetV2 and ResNet-18 are torchvision's quantizable ones.
Benchmark-time only. Run: /usr/bin/python3 bench/pytorch_mobilenet.py [--engines onednn]"""
import argparse

import torch
import torch.nn as nn
from torch.ao.quantization import DeQuantStub, QuantStub
from torchvision.models.quantization import mobilenet_v2, resnet18

from pytorch_timing import timed  # bench/, the script's folder, is on sys.path


def conv_bn_relu(cin, cout, stride, groups=1, kernel=3):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=False))


class MobileNetV1(nn.Module):
    """The standard configuration: 3x3 stem stride 2, 13 depthwise-separable blocks, global pool, linear."""

    def __init__(self, width=0.75, classes=1000, stem_stride=2):
        super().__init__()
        plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
        c = int(32 * width)
        layers = [conv_bn_relu(3, c, stem_stride)]
        for out, stride in plan:
            o = int(out * width)
            layers += [conv_bn_relu(c, c, stride, groups=c), conv_bn_relu(c, o, 1, kernel=1)]
            c = o
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.pool(self.features(self.quant(x)))
        return self.dequant(self.fc(torch.flatten(x, 1)))

    def fuse_model(self):
        for block in self.features:
            torch.ao.quantization.fuse_modules(block, ["0", "1", "2"], inplace=True)


def report(name, model, rounds):
    batch16, batch1 = torch.randn(16, 3, 224, 224), torch.randn(1, 3, 224, 224)
    parts = []
    with torch.no_grad():
        for label, run in [("batch 1", lambda: f"{1e3 * timed(lambda: model(batch1), 20, rounds):.2f} ms"),
                           ("batch 16", lambda: f"{16 / timed(lambda: model(batch16), 4, rounds):.0f} images/s")]:
            try:
                parts.append(f"{label} {run()}")
            except RuntimeError as e:
                parts.append(f"{label} failed ({str(e).splitlines()[0]})")
    print(f"  pytorch {torch.__version__} {name}: " + ", ".join(parts), flush=True)


def frozen(model):
    """The fastest TorchScript form: traced, frozen (and for float, optimized for inference)."""
    with torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(model, torch.randn(1, 3, 224, 224)))


def build(name):
    torch.manual_seed(1)
    model = {"mobilenet_v1:width=0.75": lambda: MobileNetV1(0.75), "mobilenet_v2": lambda: mobilenet_v2(quantize=False),
             "resnet18": lambda: resnet18(quantize=False)}[name]()
    model.train()
    with torch.no_grad():  # batch-norm statistics of real activations
        model(torch.randn(4, 3, 224, 224))
    return model.eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["mobilenet_v1:width=0.75", "mobilenet_v2", "resnet18"])
    parser.add_argument("--engines", nargs="+", default=["onednn", "fbgemm", "qnnpack"])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per figure, the best one reported")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.models:
        print(f"{name} at 224x224, 2 threads")
        model = build(name)
        report("float eager", model, args.rounds)
        report("float TorchScript frozen + optimize_for_inference", torch.jit.optimize_for_inference(frozen(model)), args.rounds)
        for engine in args.engines:
            if engine not in torch.backends.quantized.supported_engines:
                print(f"  pytorch: engine {engine} not in this build")
                continue
            torch.backends.quantized.engine = engine
            q = build(name)
            q.fuse_model()
            q.qconfig = torch.ao.quantization.get_default_qconfig(engine)
            torch.ao.quantization.prepare(q, inplace=True)
            with torch.no_grad():
                for _ in range(2):
                    q(torch.randn(16, 3, 224, 224))
            torch.ao.quantization.convert(q, inplace=True)
            report(f"int8 {engine} eager", q, args.rounds)
            try:
                report(f"int8 {engine} TorchScript frozen", frozen(q), args.rounds)
            except RuntimeError as e:
                print(f"  pytorch int8 {engine} TorchScript: failed ({str(e).splitlines()[0]})")


if __name__ == "__main__":
    main()
