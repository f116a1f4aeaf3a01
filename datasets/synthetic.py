"""A synthetic data set of any shape, for timing without data on disk (``bench gpu-check``):
CIFAR-shaped by default (3 x 32 x 32, 10 classes, 50,000 / 10,000 samples). Each class has
its own random mean image, and a sample is its class mean plus unit Gaussian noise, so the
labels can be learnt; the values mean nothing beyond that."""
from __future__ import annotations

import torch

from .base import Dataset


def load_synthetic(root=None, download: bool = False, shape=(3, 32, 32), classes: int = 10,
                   train: int = 50000, test: int = 10000, seed: int = 0) -> Dataset:
    shape, classes = tuple(int(s) for s in shape), int(classes)
    gen = torch.Generator().manual_seed(int(seed))
    means = 0.5 * torch.randn(classes, *shape, generator=gen)

    def draw(n: int):
        y = torch.randint(classes, (int(n),), generator=gen)
        return means[y] + torch.randn(int(n), *shape, generator=gen), y

    x_tr, y_tr = draw(train)
    x_te, y_te = draw(test)
    return Dataset("synthetic", x_tr, y_tr, x_te, y_te, classes,
                   augment="crop_flip" if len(shape) == 3 and min(shape[1:]) >= 8 else "none")
