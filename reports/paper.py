"""The paper's published numbers (Zhang & Pfister, ICCV 2021, "Learning Fast Sample
Re-weighting Without Reward Data"), test accuracy in %, from its Tables 1-7.

Each entry is keyed by the setting it was measured in; ``model=None`` marks an entry whose
network our reference notes do not state (it then matches any network, and the report says
so). A published number is shown only beside our own ``profile == "paper"`` results of the
same data set, network, corruption and method.
"""
from __future__ import annotations

from dataclasses import dataclass

WRN = "wrn28_10"
R32 = "resnet32"


@dataclass(frozen=True)
class Published:
    dataset: str
    model: str | None
    noise_type: str        # none / uniform / asym
    noise_ratio: float
    imbalance_ratio: float
    method: str            # the paper's row name
    value: float           # in %
    metric: str = "test_acc"
    source: str = ""


def _rows(dataset, model, noise_type, ratios, imbalances, method, values, source, metric="test_acc"):
    out = []
    for r, imb, v in zip(ratios, imbalances, values):
        if v is None:
            continue
        out.append(Published(dataset, model, "none" if r == 0 else noise_type, r, imb, method, v,
                             metric, source))
    return out


_NOISE = (0.0, 0.2, 0.4, 0.8)
_BAL = (1, 1, 1, 1)
_LT = (200, 50, 10)

PUBLISHED: list[Published] = [
    # uniform label noise, Table 1/2 of the paper
    *_rows("cifar10", WRN, "uniform", _NOISE, _BAL, "FSR", (96.8, 95.1, 93.7, 82.8), "uniform noise table"),
    *_rows("cifar10", WRN, "uniform", _NOISE, _BAL, "L2R", (96.1, 90.0, 86.9, 73.0), "uniform noise table"),
    *_rows("cifar10", WRN, "uniform", _NOISE, _BAL, "MWN", (92.0, 90.3, 87.5, None), "uniform noise table"),
    *_rows("cifar10", R32, "uniform", _NOISE, _BAL, "FSR", (94.4, 91.8, 90.2, 74.2), "uniform noise table"),
    *_rows("cifar100", WRN, "uniform", _NOISE, _BAL, "FSR", (81.6, 78.7, 74.2, 46.7), "uniform noise table"),
    *_rows("cifar100", WRN, "uniform", _NOISE, _BAL, "L2R", (81.2, 67.1, 61.3, 35.1), "uniform noise table"),
    *_rows("cifar100", WRN, "uniform", _NOISE, _BAL, "MWN", (70.1, 64.2, 58.6, None), "uniform noise table"),
    *_rows("cifar100", R32, "uniform", _NOISE, _BAL, "FSR", (71.3, 69.8, 65.9, 41.2), "uniform noise table"),
    # GCE and ELR as the paper quotes them (its Tables 1-2; their networks not stated there)
    *_rows("cifar10", None, "uniform", _NOISE, _BAL, "GCE", (93.5, 89.9, 87.1, 67.9), "uniform noise table"),
    *_rows("cifar10", None, "uniform", _NOISE, _BAL, "ELR", (94.5, 92.1, 91.4, 80.7), "uniform noise table"),
    *_rows("cifar100", None, "uniform", _NOISE, _BAL, "GCE", (81.4, 66.8, 61.8, 47.7), "uniform noise table"),
    *_rows("cifar100", None, "uniform", _NOISE, _BAL, "ELR", (75.2, 74.7, 68.4, 30.2), "uniform noise table"),
    # asymmetric noise
    *_rows("cifar10", WRN, "asym", (0.2, 0.4), (1, 1), "FSR", (95.0, 93.6), "asymmetric noise table"),
    *_rows("cifar10", R32, "asym", (0.2, 0.4), (1, 1), "FSR", (91.5, 90.2), "asymmetric noise table"),
    *_rows("cifar10", WRN, "asym", (0.2, 0.4), (1, 1), "L2R", (92.4, 90.8), "asymmetric noise table"),
    *_rows("cifar10", R32, "asym", (0.2, 0.4), (1, 1), "L2R", (89.2, 84.8), "asymmetric noise table"),
    *_rows("cifar10", None, "asym", (0.2, 0.4), (1, 1), "GCE", (89.5, 82.3), "asymmetric noise table"),
    # long tail, ResNet-32, imbalance 200 / 50 / 10
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "SoftMax", (65.68, 74.81, 86.39), "long-tail table"),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "CB-Best", (68.89, 79.27, 87.49), "long-tail table"),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "L2R", (66.51, 78.93, 85.19), "long-tail table"),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "MWN", (68.91, 80.06, 87.84), "long-tail table"),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "FSR-DF", (66.15, 79.78, 88.15), "long-tail table"),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "FSR", (67.76, 79.17, 87.40), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "SoftMax", (34.84, 43.85, 55.71), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "CB-Best", (36.23, 45.32, 57.99), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "L2R", (33.38, 44.44, 53.73), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "MWN", (37.91, 46.74, 58.46), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "FSR-DF", (36.74, 44.43, 55.60), "long-tail table"),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "FSR", (35.44, 42.57, 55.45), "long-tail table"),
    # mixed (Table 7): long tail then uniform noise; network not stated in our notes
    *_rows("cifar10", None, "uniform", (0.2,) * 4, (1, 10, 50, 200), "FSR", (91.8, 85.7, 77.4, 65.5), "mixed table"),
    *_rows("cifar10", None, "uniform", (0.4,) * 4, (1, 10, 50, 200), "FSR", (90.2, 81.6, 69.8, 49.5), "mixed table"),
    # WebVision (first 50 classes), ResNet-50 (Table 5): top-1 and top-5 on WebVision's validation
    # images (test_acc, test_top5) and on ImageNet's validation images of the 50 classes
    # (imagenet_acc, imagenet_top5). Table 5's other rows (F-correction, D2L, Co-teaching,
    # Iterative-CV, MentorNet, CRUST) are methods no suite runs, and a published row is shown
    # beside our row of its method only.
    Published("webvision", "resnet50", "none", 0.0, 1, "FSR", 74.9, "test_acc", "webvision table"),
    Published("webvision", "resnet50", "none", 0.0, 1, "FSR", 88.2, "test_top5", "webvision table"),
    Published("webvision", "resnet50", "none", 0.0, 1, "FSR", 72.3, "imagenet_acc", "webvision table"),
    Published("webvision", "resnet50", "none", 0.0, 1, "FSR", 87.2, "imagenet_top5", "webvision table"),
    # ablation, CIFAR-10 20% uniform noise, with re-labelling and MixUp; network not stated
    Published("cifar10", None, "uniform", 0.2, 1, "FSR", 91.4, "test_acc", "ablation"),
    Published("cifar10", None, "uniform", 0.2, 1, "FSR", 97.1, "dict_purity", "ablation"),
    Published("cifar10", None, "uniform", 0.2, 1, "FSR", 33.7, "zero_weight_ratio", "ablation"),
]

#: paper Figure 4: cost over plain softmax training, as (low, high) percent increase
PUBLISHED_COST = {
    "FSR": {"step_time": (47, 87), "peak_mem": (1.9, 34)},
    "L2R": {"step_time": (319, 443), "peak_mem": (54, 270)},
}

def lookup(dataset, model, noise_type, noise_ratio, imbalance_ratio, method, metric="test_acc",
           sources=None):
    """The published entry for this setting, preferring an exact network match; or None."""
    best = None
    for p in PUBLISHED:
        if (p.dataset == dataset and p.method == method and p.metric == metric
                and p.noise_type == noise_type and abs(p.noise_ratio - noise_ratio) < 1e-9
                and abs(p.imbalance_ratio - imbalance_ratio) < 1e-9
                and (sources is None or p.source in sources)):
            if p.model == model:
                return p
            if p.model is None:
                best = best or p
    return best
