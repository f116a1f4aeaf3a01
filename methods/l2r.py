"""Learning to Reweight (Ren et al., ICML 2018).

Each step: perturb every training sample's loss by eps_i (eps = 0), take one look-ahead SGD
step of the meta layers on sum_i eps_i * CE_i, measure the CE of a clean reward batch at the
looked-ahead parameters, and weight sample i by max(0, -dL_R/deps_i), normalised to sum 1.
The real step is SGD on sum_i w_i * CE_i, no gradient through w; when every weight is 0 (as
uber-research and ieg, no uniform fallback) nothing is stepped: no momentum, no weight decay.

At eps = 0 the looked-ahead parameters are the current ones, so exactly
    dL_R/deps_i = -alpha * (grad CE_i . grad L_R)   (both at the current parameters),
and alpha cancels in the normalisation. ``meta_grad="jvp"`` computes all B dot products in
forward mode along grad L_R: the real training forward is recorded and a tangent-only pass
reuses its activations (methods._tangent); where the network's graph is not supported,
``torch.func.jvp`` does forward and tangent in one pass (also ``meta_grad="func_jvp"``). Either
way the primal output (BatchNorm running statistics updated as in a plain forward) serves the
real step. ``meta_grad="double_backprop"`` builds the look-ahead explicitly (the paper's
algorithm).
Meta passes use BatchNorm batch statistics and never touch the running statistics.
"""
from __future__ import annotations

import contextlib

import torch

from .base import per_sample_ce
from ._functional import fcall, frozen_bn_stats, loss_jvp
from ._lookahead import LookAhead


def normalise(raw: torch.Tensor) -> torch.Tensor:
    """max(0, raw) / sum; all zeros if every entry is <= 0 (as uber-research and ieg do)."""
    w = raw.clamp_min(0)
    total = w.sum()
    return w / total if total > 0 else w


class L2R(LookAhead):
    defaults = dict(LookAhead.defaults)   # reward_batch q, reward_augment, meta_layers, meta_grad
    renamed = {"reward_batch_size": "reward_batch", "augment_reward": "reward_augment"}
    search_space: dict = {}   # no weight rule of its own to tune: the shared settings only (bench.sweep.tune)
    relative_cost = 2.8
    reward_stream = "l2r.reward"

    def reward_grad(self, xr, yr) -> dict:
        """grad of the mean reward CE w.r.t. the meta layers, BatchNorm on batch statistics."""
        meta = self.meta_params()
        loss = per_sample_ce(fcall(self.model, meta, xr), yr).mean()
        return dict(zip(meta, self.grad(loss, list(meta.values()))))

    def eps_grad_jvp(self, x, y, xr, yr, alpha=1.0, update_stats=False):
        """(dL_R/deps, per-sample CE at the current parameters with its graph) via the identity;
        ``update_stats``: the forward is the real one (BatchNorm running statistics move)."""
        g_r = self.reward_grad(xr, yr)
        if self.recorder is None:
            loss, dots = loss_jvp(self.model, x, y, self.meta_params(), g_r, update_stats=update_stats)
        else:
            with contextlib.nullcontext() if update_stats else frozen_bn_stats(self.model):
                logits = self.recorder.forward(x)
            loss, dots = per_sample_ce(logits, y), self.tangent_dots(logits, x, y, g_r)
        return -alpha * dots.detach(), loss

    def eps_grad_double_backprop(self, x, y, xr, yr, alpha=1.0):
        """dL_R/deps by the explicit look-ahead: autograd through an SGD step of the meta layers."""
        meta = self.meta_params()
        eps = torch.zeros(len(y), dtype=meta[self.meta_names[0]].dtype, device=y.device, requires_grad=True)
        loss = per_sample_ce(fcall(self.model, meta, x), y)
        grads = self.grad((eps * loss).sum(), list(meta.values()), create_graph=True)
        ahead = {n: p - alpha * g for (n, p), g in zip(meta.items(), grads)}
        reward_loss = per_sample_ce(fcall(self.model, ahead, xr), yr).mean()
        return self.grad(reward_loss, eps)[0].detach()

    def train_step(self, batch, info):
        # the reward pass before the training forward: on a CPU, a large forward while the
        # training graph is alive is slower (the allocator's page faults)
        xr, yr = self.reward_batch()
        alpha = info.lr if info.lr > 0 else 1.0  # cancels after normalisation
        if self.hp["meta_grad"] != "double_backprop":
            grad_eps, loss = self.eps_grad_jvp(batch.x, batch.y, xr, yr, alpha, update_stats=True)
        else:
            grad_eps = self.eps_grad_double_backprop(batch.x, batch.y, xr, yr, alpha)
            loss = per_sample_ce(self.model(batch.x), batch.y)
        w = normalise(-grad_eps)
        weighted = (w * loss).sum()
        if bool(w.any()):
            self.sgd_step(weighted)
        return {"loss": loss.detach().mean(), "weighted_loss": weighted.detach(), "weights": w}
