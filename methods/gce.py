"""Generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018): the L_q loss

    L_q(f(x), y) = (1 - p_y^q) / q,   0 < q <= 1,

which tends to the cross-entropy as q -> 0 and equals the (noise-robust) mean absolute error
up to a factor at q = 1; the paper's default q = 0.7. Its gradient is the CE gradient scaled by
p_y^q, so samples the network does not fit (often the noisy ones) weigh less.

``truncated=True`` is the paper's truncated L_q with pruning, the form its published numbers
use (reference code: AlanChou/Truncated-Loss, an unofficial implementation the paper's authors
did not write; ``TruncatedLoss.py`` and ``main.py`` at commit 93a24641):

    loss = mean_i  w_i * [ (1 - p_y^q) / q - (1 - k^q) / q ],   k = 0.5,  w_i in {0, 1}

averaged over the batch (pruned samples count in the mean with zero), w_i = 1 at first. Pruning
(``update_weight``) sets w_i = 1 iff (1 - k^q) / q > (1 - p_y^q) / q, i.e. iff p_y > k, for every
training sample at the start of epoch e (0-based) when e + 1 >= start_prune and
(e + 1) % 10 == 0 (``main.py`` ``train``). The reference's start_prune is 40 of 120 epochs on
CIFAR-10 and 80 of 150 on CIFAR-100 (README commands); ``prune_start`` takes an epoch (an
integer, compared with e + 1 as there) or a fraction of the run (round(fraction * epochs), as
FSR's ``reweight_start``), so that a run of another length prunes at the same point of it.

The samples are scored in evaluation mode (as the reference: ``net.eval()``) on the images its
training loader yields, i.e. crop/flip-augmented (``prune_augment=True``; our augmentation,
drawn from the method's own generator so that the run's other draws stay as they are; False
scores the plain images). One thing differs from the reference, as it must: the reference
scores with its best-test-accuracy checkpoint (its README says so, for want of a validation
set), which reads the test labels; we score with the current model.
Plain L_q (``truncated=False``, the default) stays the method's other variant.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Method
from .domains import Bool, Int, Real
from .spaces import Uniform

SCORE_BATCH = 1024   # samples per forward pass of the pruning pass (no gradient)


def gce_loss(logits: torch.Tensor, y: torch.Tensor, q: float) -> torch.Tensor:
    """Per-sample L_q: (1 - p_y^q) / q, computed from the log-probability (stable for small p_y)."""
    log_py = F.log_softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
    return -torch.expm1(q * log_py) / q


def lq_at(k: float, q: float) -> float:
    """L_q at p_y = k: (1 - k^q) / q, the truncation level."""
    return (1 - k ** q) / q


def truncated_loss(logits: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, q: float, k: float) -> torch.Tensor:
    """The batch's truncated L_q: mean over the batch of w_i * (L_q(p_y) - L_q(k))."""
    return (keep.to(logits.dtype) * (gce_loss(logits, y, q) - lq_at(k, q))).mean()


def kept(logits: torch.Tensor, y: torch.Tensor, q: float, k: float) -> torch.Tensor:
    """The pruning rule: w_i = 1 where L_q(k) > L_q(p_y) (i.e. p_y > k), else 0."""
    return lq_at(k, q) > gce_loss(logits.to(torch.promote_types(logits.dtype, torch.float32)), y, q)


def prune_due(epoch: int, start: int, every: int) -> bool:
    """Whether the weights are re-drawn at the start of ``epoch`` (0-based), as the reference."""
    return epoch + 1 >= start and (epoch + 1) % every == 0


class GCE(Method):
    defaults = {"q": 0.7, "truncated": False, "k": 0.5, "prune_start": 40 / 120, "prune_every": 10,
                "prune_augment": True}
    domains = {"q": Real(0, 1, lo_open=True), "truncated": Bool(), "k": Real(0, 1, lo_open=True, hi_open=True),
               "prune_start": Int(1) | Real(0, 1, lo_open=True, hi_open=True), "prune_every": Int(1),
               "prune_augment": Bool()}
    search_space = {"q": Uniform(0.1, 0.9)}
    state_attrs = ("keep", "gen")

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        if self.hp["truncated"]:
            if ctx.train_x is None or ctx.train_y is None:
                raise ValueError("gce with truncated=true needs ctx.train_x / ctx.train_y")
            self.keep = torch.ones(ctx.num_train, dtype=torch.bool, device=ctx.device)
            self.gen = ctx.stream("gce.prune")

    def prune_start(self) -> int:
        s = self.hp["prune_start"]
        return round(s * self.ctx.epochs) if isinstance(s, float) else s

    def first_prune(self) -> int:
        """The first epoch (0-based) whose start re-draws the weights."""
        every = self.hp["prune_every"]
        return max(1, -(-self.prune_start() // every)) * every - 1

    def train_step(self, batch, info):
        q = self.hp["q"]
        logits = self.model(batch.x)
        if not self.hp["truncated"]:
            loss = gce_loss(logits, batch.y, q).mean()
            self.sgd_step(loss)
            return {"loss": loss.detach()}
        w = self.keep[batch.idx]
        loss = truncated_loss(logits, batch.y, w, q, self.hp["k"])
        self.sgd_step(loss)
        return {"loss": loss.detach(), **({"weights": w.float()} if info.epoch >= self.first_prune() else {})}

    def on_epoch_end(self, epoch):
        """Re-draw the weights for the next epoch where it starts with a pruning (the model now
        is the model at the start of the next epoch)."""
        nxt = epoch + 1
        if self.hp["truncated"] and nxt < self.ctx.epochs and prune_due(nxt, self.prune_start(), self.hp["prune_every"]):
            self.prune()
        return {}

    @torch.no_grad()
    def prune(self) -> None:
        x, y, was_training = self.ctx.train_x, self.ctx.train_y.to(self.keep.device), self.model.training
        self.model.eval()
        for i in range(0, len(x), SCORE_BATCH):
            xb = x[i:i + SCORE_BATCH]
            xb = self.ctx.augment(xb, generator=self.gen) if self.hp["prune_augment"] else xb
            self.keep[i:i + SCORE_BATCH] = kept(self.model(xb), y[i:i + SCORE_BATCH], self.hp["q"], self.hp["k"])
        self.model.train(was_training)
