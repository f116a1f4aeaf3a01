"""Data sets that need no download: MNIST-1D (procedural, the default) and scikit-learn's digits.

MNIST-1D (Greydanus, 2020) draws each sample from one of ten 1-D digit templates with random
padding, scaling, shear, translation and correlated noise. A small CNN reaches ~95% on clean
labels while a linear model stays near 30%, so it separates models and methods the way CIFAR
does, at a fraction of the cost; the generator is seeded, so every machine builds the same set.
The generated arrays are cached under ``$REWEIGHT_BENCH_CACHE`` (default
``~/.cache/reweight-bench``) so Ray workers do not regenerate them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .base import Dataset

MNIST1D_SAMPLES = 12_000  # 9,600 train (939 to 980 per class) + 2,400 test


def cache_dir() -> Path:
    return Path(os.environ.get("REWEIGHT_BENCH_CACHE", Path.home() / ".cache" / "reweight-bench"))


def _mnist1d_arrays(num_samples: int, seed: int) -> dict[str, np.ndarray]:
    path = cache_dir() / f"mnist1d-{num_samples}-{seed}.npz"
    if path.exists():
        with np.load(path) as f:
            return dict(f)
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    state = np.random.get_state()  # the generator seeds numpy's global RNG; leave it as found
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    arrays = {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)  # atomic: concurrent workers never read a half-written cache
    return arrays


def load_mnist1d(root=None, download=False) -> Dataset:
    a = _mnist1d_arrays(MNIST1D_SAMPLES, seed=42)
    as_x = lambda x: torch.as_tensor(x, dtype=torch.float32).unsqueeze(1)  # (N, 1, 40)
    as_y = lambda y: torch.as_tensor(y, dtype=torch.int64)
    return Dataset("mnist1d", as_x(a["x"]), as_y(a["y"]), as_x(a["x_test"]), as_y(a["y_test"]), 10)


def load_digits(root=None, download=False) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images); a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x = (x / 16.0 - 0.5) / 0.5
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    as_x = lambda v: torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 8, 8)
    as_y = lambda v: torch.as_tensor(v, dtype=torch.int64)
    return Dataset("digits", as_x(xtr), as_y(ytr), as_x(xte), as_y(yte), 10)
