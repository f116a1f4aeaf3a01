"""Class-balanced loss by effective number of samples (Cui et al., CVPR 2019).

Effective number of class c: E_c = (1 - beta^n_c) / (1 - beta); class weight w_c = 1 / E_c,
rescaled so that sum_c w_c = C. The loss is the batch mean of w_y times a per-sample loss:
softmax CE, sigmoid BCE over all C logits, or sigmoid focal loss. Counts are the observed
(noisy, imbalanced) training labels. beta = 0 gives every class weight 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Method
from .domains import Choice, Real
from .spaces import Pick, Uniform


def class_balanced_weights(counts: torch.Tensor, beta: float) -> torch.Tensor:
    counts = counts.to(torch.float64)
    if beta == 0:
        w = torch.ones_like(counts)
    else:
        effective = -torch.expm1(counts * math.log(beta)) / (1 - beta)  # (1 - beta^n) / (1 - beta)
        w = 1.0 / effective.clamp_min(1e-12)  # (1 - beta) / (1 - beta^n); empty classes get a large finite weight
    return (w * len(counts) / w.sum()).to(torch.float32)


def focal_loss(logits, onehot, gamma):
    """Sigmoid focal loss summed over classes (Lin et al.; the CB paper's form)."""
    bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    if gamma == 0:
        return bce.sum(1)
    modulator = torch.exp(-gamma * onehot * logits - gamma * torch.log1p(torch.exp(-logits)))
    return (modulator * bce).sum(1)


def cb_loss(logits, y, class_weights, loss="softmax", gamma=1.0):
    w = class_weights[y]
    if loss == "softmax":
        per_sample = F.cross_entropy(logits, y, reduction="none")
    else:
        onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
        per_sample = focal_loss(logits, onehot, gamma if loss == "focal" else 0.0)
    return (w * per_sample).mean()


class ClassBalanced(Method):
    """For the sigmoid losses the last layer's bias starts at -log(C - 1) and, as in the
    reference code (richardaecn/class-balanced-loss), takes no weight decay."""

    defaults = {"beta": 0.9999, "loss": "softmax", "gamma": 1.0}
    domains = {"beta": Real(0, 1, hi_open=True), "loss": Choice("softmax", "sigmoid", "focal"), "gamma": Real(0)}
    search_space = {"beta": Pick(0.9, 0.99, 0.999, 0.9999), "loss": Pick("softmax", "sigmoid", "focal"),
                    "gamma": Uniform(0.5, 2.0)}   # gamma: the focal loss's only

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        self.class_weights = class_balanced_weights(ctx.class_counts, self.hp["beta"]).to(ctx.device)
        if self.hp["loss"] != "softmax":  # sigmoid losses start from prior 1/C per class
            with torch.no_grad():
                model.fc.bias.fill_(-torch.log(torch.tensor(ctx.num_classes - 1.0)).item())

    def make_optimizer(self, params):
        if self.hp["loss"] == "softmax":
            return super().make_optimizer(params)
        bias = self.model.fc.bias
        opt = super().make_optimizer([p for p in self.model.parameters() if p is not bias])
        opt.add_param_group({"params": [bias], "weight_decay": 0.0})
        return opt

    def train_step(self, batch, info):
        loss = cb_loss(self.model(batch.x), batch.y, self.class_weights, self.hp["loss"], self.hp["gamma"])
        self.sgd_step(loss)
        return {"loss": loss.detach()}
