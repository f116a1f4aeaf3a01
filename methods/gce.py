"""Generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018): the L_q loss

    L_q(f(x), y) = (1 - p_y^q) / q,   0 < q <= 1,

which tends to the cross-entropy as q -> 0 and equals the (noise-robust) mean absolute error
up to a factor at q = 1; the paper's default q = 0.7. Its gradient is the CE gradient scaled by
p_y^q, so samples the network does not fit (often the noisy ones) weigh less. This is the plain
L_q loss (not the paper's truncated variant with per-epoch pruning).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Method
from .domains import Real


def gce_loss(logits: torch.Tensor, y: torch.Tensor, q: float) -> torch.Tensor:
    """Per-sample L_q: (1 - p_y^q) / q, computed from the log-probability (stable for small p_y)."""
    log_py = F.log_softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
    return -torch.expm1(q * log_py) / q


class GCE(Method):
    defaults = {"q": 0.7}
    domains = {"q": Real(0, 1, lo_open=True)}

    def train_step(self, batch, info):
        loss = gce_loss(self.model(batch.x), batch.y, self.hp["q"]).mean()
        self.sgd_step(loss)
        return {"loss": loss.detach()}
