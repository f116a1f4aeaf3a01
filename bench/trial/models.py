"""Networks. Every model exposes ``features(x)`` (the penultimate features h) and ``fc`` (the
last linear layer), with ``forward(x) == fc(features(x))``: FSR's look-ahead needs both."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    def forward(self, x):
        return self.fc(self.features(x))


class SmallCNN(Classifier):
    """Three conv-BN-ReLU blocks and global average pooling; 1-D or 2-D by the input's rank.
    For MNIST-1D (1 x 40) and the 8 x 8 digits: ~40k parameters, a few ms per step on a CPU.
    ``first_stride=2`` and ``width=16`` ("small_cnn_fast"): for 28 x 28 to 32 x 32 images on a CPU."""

    def __init__(self, input_shape, num_classes, width=32, first_stride=1):
        super().__init__()
        two_d = len(input_shape) == 3
        Conv, BN = (nn.Conv2d, nn.BatchNorm2d) if two_d else (nn.Conv1d, nn.BatchNorm1d)
        chans = [input_shape[0], width, 2 * width, 4 * width]
        layers = []
        for i in range(3):
            layers += [Conv(chans[i], chans[i + 1], 3, stride=first_stride if i == 0 else 2, padding=1, bias=False),
                       BN(chans[i + 1]), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(chans[-1], num_classes)

    def features(self, x):
        return self.body(x).flatten(2).mean(2)


class MLP(Classifier):
    def __init__(self, input_shape, num_classes, width=256):
        super().__init__()
        d = int(torch.tensor(input_shape).prod())
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                                  nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True))
        self.fc = nn.Linear(width, num_classes)

    def features(self, x):
        return self.body(x)


class _BasicBlock(nn.Module):
    """He et al. CIFAR block with the parameter-free (option A) shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:
            short = x[:, :, ::self.stride, ::self.stride]
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class ResNetCifar(Classifier):
    """ResNet-(6n+2) for 32 x 32 inputs (He et al. 2016); n = 5 is ResNet-32 (464k parameters
    at 10 classes), the network of the paper's long-tail tables and its R32 rows."""

    def __init__(self, input_shape, num_classes, depth=32):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for i, cout in enumerate((16, 32, 64)):
            for j in range(n):
                blocks.append(_BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x):
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return out.mean((2, 3))


class _WideBlock(nn.Module):
    def __init__(self, cin, cout, stride, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.short = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        short = x if self.short is None else self.short(o)
        out = self.conv1(o)
        out = F.relu(self.bn2(out))
        if self.dropout:
            out = F.dropout(out, self.dropout, self.training)
        return self.conv2(out) + short


class WideResNet(Classifier):
    """WRN-d-k (Zagoruyko & Komodakis); WRN-28-10 is the paper's noise-table network (36.5M)."""

    def __init__(self, input_shape, num_classes, depth=28, widen=10, dropout=0.0):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv = nn.Conv2d(input_shape[0], widths[0], 3, 1, 1, bias=False)
        blocks, cin = [], widths[0]
        for i in range(3):
            for j in range(n):
                blocks.append(_WideBlock(cin, widths[i + 1], 2 if (j == 0 and i > 0) else 1, dropout))
                cin = widths[i + 1]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x):
        return F.relu(self.bn(self.blocks(self.conv(x)))).mean((2, 3))


class TorchvisionResNet(Classifier):
    """A torchvision ImageNet ResNet (from scratch) with ``features`` / ``fc`` split: the
    network of the paper's WebVision experiment (ResNet-50)."""

    def __init__(self, input_shape, num_classes, arch="resnet50"):
        super().__init__()
        import torchvision

        self.body = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        self.fc, self.body.fc = self.body.fc, nn.Identity()

    def features(self, x):
        return self.body(x)


MODELS = {
    "small_cnn": SmallCNN,
    "small_cnn_fast": lambda s, c: SmallCNN(s, c, width=16, first_stride=2),
    "mlp": MLP,
    "resnet32": lambda s, c: ResNetCifar(s, c, depth=32),
    "wrn28_10": lambda s, c: WideResNet(s, c, depth=28, widen=10),
    "wrn28_2": lambda s, c: WideResNet(s, c, depth=28, widen=2),
    "resnet50": lambda s, c: TorchvisionResNet(s, c, "resnet50"),
    "resnet18": lambda s, c: TorchvisionResNet(s, c, "resnet18"),
}
#: the input each network is meant for, where a cost run names neither a data set nor a shape
#: (the small nets: MNIST-1D's 1 x 40; the CIFAR nets: 3 x 32 x 32; the ImageNet ones: 3 x 224 x 224)
INPUT_SHAPES = {"small_cnn": (1, 40), "small_cnn_fast": (3, 32, 32), "mlp": (1, 40), "resnet32": (3, 32, 32), "wrn28_10": (3, 32, 32),
                "wrn28_2": (3, 32, 32), "resnet50": (3, 224, 224), "resnet18": (3, 224, 224)}


def build_model(name: str, input_shape, num_classes: int) -> Classifier:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name](tuple(input_shape), num_classes)
