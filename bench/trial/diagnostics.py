"""Diagnostics computed by the harness from what methods expose (weights, dictionary)."""
from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score


def auroc(scores, positive) -> float:
    """Area under the ROC curve of ``scores`` for telling ``positive`` (True) from the rest
    (scikit-learn's; ties count one half). NaN if either class is empty."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return math.nan
    return float(roc_auc_score(positive, np.asarray(scores, dtype=np.float64)))


class WeightStats:
    """Accumulates per-sample weights of the active (post warm-up) steps with the samples'
    clean flags; summarises zero-weight ratio, weight purity, clean / noisy mean and AUROC."""

    def __init__(self):
        self.weights, self.clean = [], []
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def add(self, weights: torch.Tensor, clean: torch.Tensor) -> None:
        """Kept where they are (no host sync per step on a GPU) until ``flush``."""
        self.pending.append((weights.detach().float(), clean.detach()))

    def flush(self) -> float:
        """The pending steps' weights to host memory, in one copy; their zero-weight ratio
        (NaN without any: the epoch's curve point)."""
        if not self.pending:
            return math.nan
        w = torch.cat([w for w, _ in self.pending]).cpu()
        self.weights.append(w)
        self.clean.append(torch.cat([c for _, c in self.pending]).cpu())
        self.pending = []
        return float((w == 0).float().mean())

    def summary(self) -> dict:
        self.flush()
        nan = math.nan
        if not self.weights:
            return dict(zero_weight_ratio=nan, weight_purity=nan, clean_weight=nan,
                        noisy_weight=nan, weight_auroc=nan)
        w, c = torch.cat(self.weights).numpy(), torch.cat(self.clean).numpy().astype(bool)
        nonzero = w != 0
        mean = lambda a: float(a.mean()) if len(a) else nan
        return dict(
            zero_weight_ratio=float((~nonzero).mean()),
            weight_purity=mean(c[nonzero]),
            clean_weight=mean(w[c]),
            noisy_weight=mean(w[~c]),
            weight_auroc=auroc(w, c),
        )


def shot_accuracy(pred: torch.Tensor, y: torch.Tensor, train_counts: torch.Tensor) -> dict:
    """Many (> 100 training samples), medium (20-100) and few (< 20) shot test accuracy.
    ``train_counts``: the training classes' TRUE sizes (the harness passes the clean labels'
    counts; under label noise the observed counts make every class look many-shot)."""
    correct = (pred == y).float()
    n = train_counts.to(y.device)[y]
    out = {}
    for name, mask in (("many_acc", n > 100), ("medium_acc", (n >= 20) & (n <= 100)), ("few_acc", n < 20)):
        out[name] = float(correct[mask].mean()) if mask.any() else math.nan
    return out
