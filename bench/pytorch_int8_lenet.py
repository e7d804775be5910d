#!/usr/bin/python3
"""PyTorch's side of the LeNet inference benchmark (bench/infer_lenet.cpp): float, and int8
by eager-mode post-training quantization on each quantized engine this build has (onednn,
fbgemm, qnnpack), with torch.set_num_threads(2): images/s at batch 64 and the median
latency at batch 1. Benchmark-time only. Run: /usr/bin/python3 bench/pytorch_int8_lenet.py"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_timing import timed  # bench/, the script's folder, is on sys.path


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.quantization.QuantStub()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.relu2 = nn.ReLU()
        self.fc1 = nn.Linear(800, 500)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(500, 10)
        self.dequant = torch.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = F.max_pool2d(self.relu1(self.conv1(x)), 2)
        x = F.max_pool2d(self.relu2(self.conv2(x)), 2)
        x = self.relu3(self.fc1(torch.flatten(x, 1)))
        return self.dequant(self.fc2(x))


def report(name, model):
    batch64, batch1 = torch.randn(64, 1, 28, 28), torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        t64 = timed(lambda: model(batch64), 20, 5)
        t1 = timed(lambda: model(batch1), 200, 5)
    print(f"pytorch {torch.__version__} {name}: batch 64 {64 / t64:.0f} images/s, batch 1 {1e3 * t1:.3f} ms")


def main():
    torch.set_num_threads(2)
    torch.manual_seed(1)
    model = LeNet().eval()
    report("float", model)
    for engine in ["onednn", "fbgemm", "qnnpack"]:
        if engine not in torch.backends.quantized.supported_engines:
            print(f"pytorch: engine {engine} not in this build")
            continue
        torch.backends.quantized.engine = engine
        q = LeNet().eval()
        q.load_state_dict(model.state_dict())
        q = torch.quantization.fuse_modules(q, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]])
        q.qconfig = torch.quantization.get_default_qconfig(engine)
        torch.quantization.prepare(q, inplace=True)
        with torch.no_grad():
            for _ in range(8):
                q(torch.randn(64, 1, 28, 28))
        torch.quantization.convert(q, inplace=True)
        try:
            report(f"int8 {engine}", q)
        except RuntimeError as e:
            print(f"pytorch int8 {engine}: failed ({str(e).splitlines()[0]})")


if __name__ == "__main__":
    main()
