"""What the look-ahead methods with a clean reward set share (L2R, Meta-Weight-Net): the reward
set drawn in reshuffled passes with the method's own generator and augmented as the training
batches, the meta layers (``meta_layers``: one meaning for every method, see
``methods._functional.meta_parameter_names``) and the tangent recorder of their forward-mode
weights. A subclass names its sampler's random stream (``reward_stream``, methods.base.STREAMS) and
writes its step; its own hyper-parameters extend ``LookAhead.defaults``."""
from __future__ import annotations

import warnings
from typing import ClassVar

import torch

from .base import Method
from .domains import Bool, Choice, Int
from ._device import to_device
from ._functional import META_LAYERS, loss_jvp, meta_parameter_names, named_subset
from ._tangent import META_GRADS, ce_tangent, recorder_for


class RewardSampler:
    """Cycles through the clean reward set in reshuffled passes, ``size`` samples at a time,
    with its own generator (so the harness's data order is unaffected)."""

    def __init__(self, x, y, size, gen: torch.Generator):
        self.x, self.y, self.size = x, y, min(int(size), len(y))
        self.gen = gen
        self.order, self.pos = torch.randperm(len(y), generator=self.gen), 0

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "order": self.order.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"].clone(), int(state["pos"])

    def next(self):
        if self.pos + self.size > len(self.order):
            self.order, self.pos = torch.randperm(len(self.y), generator=self.gen), 0
        idx = to_device(self.order[self.pos:self.pos + self.size], self.y.device)
        self.pos += self.size
        return self.x[idx], self.y[idx]


class LookAhead(Method):
    defaults = {
        "reward_batch": 100,       # samples per step from the clean reward set (its size: the harness's)
        "reward_augment": True,    # crop/flip as the training batches (MW-Net.py's meta set)
        "meta_layers": "all",      # "all", "fc", an int k (the last k modules with parameters), or prefixes
        "meta_grad": "jvp",        # "jvp" (tangent-only pass) | "func_jvp" | "double_backprop"
    }
    domains = {"reward_batch": Int(1), "reward_augment": Bool(), "meta_layers": META_LAYERS,
               "meta_grad": Choice(*META_GRADS)}
    needs_reward = True
    state_attrs: ClassVar[tuple[str, ...]] = ("reward",)
    reward_stream: ClassVar[str] = "lookahead.reward"   # the sampler's stream (Context.stream)

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        self.recorder = recorder_for(model, self.hp["meta_grad"], type(self).__name__.lower())
        self.meta_names = meta_parameter_names(model, self.hp["meta_layers"])
        self.reward = RewardSampler(ctx.reward_x, ctx.reward_y, self.hp["reward_batch"], ctx.stream(self.reward_stream))

    def reward_batch(self):
        """The next clean batch (augmented with the sampler's generator, if ``reward_augment``)."""
        x, y = self.reward.next()
        return (self.ctx.augment(x, generator=self.reward.gen) if self.hp["reward_augment"] else x), y

    def meta_params(self) -> dict:
        return named_subset(self.model, self.meta_names)

    def tangent_dots(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor, direction: dict) -> torch.Tensor:
        """Per sample, grad CE_i . ``direction`` at the last recorded forward (its logits), by the
        tangent-only pass; if that pass fails at run time (say, after a torch upgrade), a warning
        once and ``torch.func.jvp`` from then on (BatchNorm on batch statistics, none updated)."""
        if self.recorder is not None:
            try:
                return ce_tangent(logits, y, self.recorder.tangent(direction))
            except Exception as e:  # noqa: BLE001 (any failure of the fast path: fall back, exactly)
                warnings.warn(f"{type(self).__name__.lower()}: the tangent-only pass failed ({type(e).__name__}: "
                              f"{e}); using torch.func.jvp from now on")
                self.recorder = None
        with torch.no_grad():
            _, dots = loss_jvp(self.model, x, y, {n: p.detach() for n, p in self.meta_params().items()}, direction)
        return dots
