"""Early-learning regularization (Liu et al., NeurIPS 2020): cross-entropy plus a term that
keeps the network's outputs close to a running average of its own earlier outputs, which
early in training are right even for most mislabeled samples.

Per training sample i, a target t_i (zero at first) is updated each time the sample is seen,

    t_i <- beta t_i + (1 - beta) p_i / sum(p_i),   p_i = clamp(softmax(f(x_i)), 1e-4, 1 - 1e-4)

with beta = ``target_momentum`` (no gradient through the update), and the loss is

    CE(f(x_i), y_i) + lambda * log(1 - <t_i, p_i>),

with lambda = ``reg_weight``, averaged over the batch. The paper's CIFAR-10 setting is
beta = 0.7, lambda = 3 (CIFAR-100: 0.9 and 7).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Method
from .domains import Real
from .spaces import LogUniform, Uniform


def clamped_probs(logits):
    """softmax(logits) clamped to [1e-4, 1 - 1e-4], in fp32 (1 - 1e-4 is 1 in bf16)."""
    return torch.softmax(logits.float(), 1).clamp(1e-4, 1 - 1e-4)


def elr_loss(logits, p, y, target, reg_weight):
    """The batch's loss, with ``p = clamped_probs(logits)`` and the batch's targets t_i (updated)."""
    return F.cross_entropy(logits, y) + reg_weight * torch.log1p(-(target * p).sum(1)).mean()


class ELR(Method):
    defaults = {"target_momentum": 0.7, "reg_weight": 3.0}   # the paper's beta and lambda
    domains = {"target_momentum": Real(0, 1, hi_open=True), "reg_weight": Real(0)}
    search_space = {"target_momentum": Uniform(0.5, 0.99), "reg_weight": LogUniform(0.03, 10.0)}   # lambda -> 0: softmax
    #: one name per concept: ``beta`` is CB's effective-number parameter
    renamed = {"beta": "target_momentum", "lam": "reg_weight"}
    state_attrs = ("target",)

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        self.target = torch.zeros(ctx.num_train, ctx.num_classes, device=ctx.device)

    def train_step(self, batch, info):
        logits = self.model(batch.x)
        p = clamped_probs(logits)   # once: the target update takes it without gradient, the loss with
        b, pd = self.hp["target_momentum"], p.detach()
        target = b * self.target[batch.idx] + (1 - b) * pd / pd.sum(1, keepdim=True)
        self.target[batch.idx] = target
        loss = elr_loss(logits, p, batch.y, target, self.hp["reg_weight"])
        self.sgd_step(loss)
        return {"loss": loss.detach()}
