"""Meta-Weight-Net (Shu et al., NeurIPS 2019).

A weighting network v = MLP(1 -> 100 -> ReLU -> 1 -> sigmoid) maps each sample's (detached)
CE to a weight. Each step:
  1. virtual SGD step of the classifier (current lr, no momentum / weight decay) on
     sum_i u_i CE_i, with u_i = v(CE_i) / B (or v_i / sum_j v_j if ``normalize``);
  2. mean CE of a clean meta batch at the virtual parameters theta';
  3. backward into the weighting network only, one step of its optimiser (Adam lr 1e-3, wd 1e-4,
     the noise script; the class-imbalance script: SGD lr 1e-5, momentum 0.9, Nesterov, wd 5e-4);
  4. the real step on sum_i u_i CE_i with the updated network's weights (no gradient).

Step 3 needs dL_meta/du_i = -lr * (grad CE_i(theta) . grad L_meta(theta')). With
``meta_grad="jvp"`` those B dot products are one forward-mode derivative of the per-sample
losses along grad L_meta(theta'), then v's own (tiny) backward. The losses at theta come
from the real training forward, which ran before the direction was known, so the
derivative is a tangent-only pass over that forward's recorded activations
(methods._tangent); where the network's graph is not supported, and with
``meta_grad="func_jvp"``, ``torch.func.jvp`` recomputes forward and tangent together.
``"double_backprop"`` differentiates through the virtual step as the paper's code does. Meta passes use
BatchNorm batch statistics and leave the running statistics alone.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from .base import per_sample_ce
from ._functional import fcall, frozen_bn_stats
from ._lookahead import LookAhead
from .domains import Bool, Choice, Int, Real
from .spaces import LogUniform
from ._precision import at_least_fp32, full_precision


class WeightNet(nn.Module):
    def __init__(self, hidden=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, loss):
        return self.net(loss.unsqueeze(1)).squeeze(1)


class MWN(LookAhead):
    defaults = {
        **LookAhead.defaults,      # reward_batch (the meta batch), reward_augment, meta_layers, meta_grad
        "hidden": 100,
        "wnet_optim": "adam",      # "adam" (noise script) or "sgd" (class-imbalance script)
        "wnet_lr": 1e-3,
        "wnet_weight_decay": 1e-4,
        "wnet_momentum": 0.9,      # SGD only
        "wnet_nesterov": True,     # SGD only
        "normalize": False,        # False: u = v / B (stable official script); True: u = v / sum v
    }
    domains = {**LookAhead.domains, "hidden": Int(1), "wnet_optim": Choice("adam", "sgd"),
               "wnet_lr": Real(0, lo_open=True), "wnet_weight_decay": Real(0), "wnet_momentum": Real(0, 1, hi_open=True),
               "wnet_nesterov": Bool(), "normalize": Bool()}
    search_space = {"wnet_lr": LogUniform(1e-4, 1e-2), "wnet_weight_decay": LogUniform(1e-5, 1e-3)}
    renamed = {"meta_batch_size": "reward_batch", "augment_meta": "reward_augment", "normalise": "normalize"}
    relative_cost = 3.6
    state_attrs = ("wnet", "wopt", "reward")
    reward_stream = "mwn.reward"

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        dtype = next(model.parameters()).dtype
        self.wnet = WeightNet(self.hp["hidden"]).to(device=ctx.device, dtype=dtype)
        hp = self.hp
        if hp["wnet_optim"] == "adam":
            self.wopt = torch.optim.Adam(self.wnet.parameters(), lr=hp["wnet_lr"], weight_decay=hp["wnet_weight_decay"])
        else:
            self.wopt = torch.optim.SGD(self.wnet.parameters(), lr=hp["wnet_lr"], momentum=hp["wnet_momentum"],
                                        nesterov=hp["wnet_nesterov"], weight_decay=hp["wnet_weight_decay"])

    @classmethod
    def check_together(cls, hp, who):
        if hp["wnet_optim"] == "sgd" and hp["wnet_nesterov"] and hp["wnet_momentum"] == 0:
            raise ValueError(f"{who}.wnet_nesterov=true needs {who}.wnet_momentum > 0 (SGD's Nesterov momentum)")

    def weights(self, loss: torch.Tensor) -> torch.Tensor:
        """u_i, differentiable w.r.t. the weighting network, from the detached CE."""
        with full_precision(loss.device.type):   # the tiny weighting network always in fp32
            v = self.wnet(at_least_fp32(loss.detach()))
        return v / v.sum().clamp_min(1e-12) if self.hp["normalize"] else v / len(v)

    def wnet_grad_jvp(self, x, y, xm, ym, lr, update_stats=True):
        """(gradient of L_meta(theta') w.r.t. the weighting network, meta loss, per-sample CE at
        theta with its graph for the real step). ``update_stats``: the forward at theta is the
        real one (BatchNorm running statistics move)."""
        meta = self.meta_params()
        with contextlib.nullcontext() if update_stats else frozen_bn_stats(self.model):
            logits = self.recorder.forward(x) if self.recorder is not None else self.model(x)
        loss = per_sample_ce(logits, y)
        u = self.weights(loss)
        grads = self.grad((u.detach() * loss).sum(), list(meta.values()), retain_graph=True)
        ahead = {n: (p - lr * g).detach().requires_grad_() for (n, p), g in zip(meta.items(), grads)}
        meta_loss = per_sample_ce(fcall(self.model, ahead, xm), ym).mean()
        g_meta = dict(zip(ahead, self.grad(meta_loss, list(ahead.values()))))
        dots = self.tangent_dots(logits, x, y, g_meta)
        wgrads = self.grad(u, list(self.wnet.parameters()), grad_outputs=-lr * dots)
        return wgrads, meta_loss, loss

    def wnet_grad_double_backprop(self, x, y, xm, ym, lr):
        meta = self.meta_params()
        loss = per_sample_ce(fcall(self.model, meta, x), y)
        u = self.weights(loss)
        grads = self.grad((u * loss).sum(), list(meta.values()), create_graph=True)
        ahead = {n: p - lr * g for (n, p), g in zip(meta.items(), grads)}
        meta_loss = per_sample_ce(fcall(self.model, ahead, xm), ym).mean()
        return self.grad(meta_loss, list(self.wnet.parameters())), meta_loss

    def train_step(self, batch, info):
        xm, ym = self.reward_batch()
        if self.hp["meta_grad"] != "double_backprop":   # the real forward inside, its loss reused
            wgrads, meta_loss, loss = self.wnet_grad_jvp(batch.x, batch.y, xm, ym, info.lr)
        else:
            wgrads, meta_loss = self.wnet_grad_double_backprop(batch.x, batch.y, xm, ym, info.lr)
            loss = per_sample_ce(self.model(batch.x), batch.y)
        self.wopt.zero_grad(set_to_none=True)
        for p, g in zip(self.wnet.parameters(), wgrads):
            p.grad = g
        self.wopt.step()
        with torch.no_grad():
            u = self.weights(loss)
        weighted = (u * loss).sum()
        self.sgd_step(weighted)
        return {"loss": loss.detach().mean(), "weighted_loss": weighted.detach(),
                "meta_loss": meta_loss.detach(), "weights": u}
