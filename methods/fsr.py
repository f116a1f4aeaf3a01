"""FSR: Learning Fast Sample Re-weighting Without Reward Data (Zhang & Pfister, ICCV 2021).

Per step (after the warm-up):
1. Draw a class-balanced reward batch of q samples from the dictionary R (training samples,
   balanced by observed label) and forward it through the shared backbone without gradient
   (joined to the un-mixed training batch, for the meta-margin below).
2. Forward the training batch once: features h_i, logits, p_i.
3. Look-ahead on the last linear layer only, every eps_i = 1/B:
   FC' = FC - alpha * (sum_i eps_i grad CE_i + weight decay + momentum buffer).
   The meta loss is the reward batch's mean CE at FC'; with (G_W, G_b) its gradient w.r.t.
   FC', d L_meta / d eps_i = -alpha * (h_i^T G_W (p_i - y_i) + G_b . (p_i - y_i)).
4. Weights from that gradient (``weight_rule``): "clip" w = max(0, -g) / (sum + 1e-5) (noise),
   "shift" w = r - min(r) + 1/B, r = eps - g, then / sum (long tail).
5. The real step on sum_i w_i CE_i (+ the momentum re-labelling loss).
``train_step`` reads as these phases: reward features, MixUp, look-ahead, weights, re-labelling.

The meta-margin (CE before minus CE after the look-ahead, per training sample) feeds a
momentum score s <- m * s + (1 - m) * margin (m: ``score_momentum``, the paper's lambda); at every epoch end the dictionary keeps,
per observed class, the |R| / C samples of largest score. Before the warm-up ends the weights
are 1/B (until the epoch ``reweight_start``), while the scores and the dictionary still update.

The meta-margin's two sides (``margin``). "Before" is always the per-sample CE the look-ahead
steps on (with MixUp: the mixed batch and its mixed targets, at FC). "After" is taken at FC':
- "reference" (default; ieg/models/fsr.py, ``meta_optimize``): the UN-mixed batch with its hard
  observed labels. With MixUp its features come from one no-grad forward of [reward batch;
  un-mixed batch] as a single batch, BatchNorm on that batch's statistics with the running
  statistics untouched (``reward_bn="batch"``), in the warm-up too. Without MixUp the un-mixed
  batch is the training batch: its features come from the training forward, no extra forward.
  The step's floor is then a plain step plus one no-grad forward of q + B samples (q alone
  without MixUp).
- "hard_label": a cost-saving option: the training forward's (mixed) features with the hard
  observed labels; no forward of the un-mixed batch. Equal to "reference" without MixUp.
- "same_batch": both sides on the mixed batch and targets; the margin is then the look-ahead's
  loss drop alone, which grows with the gradient norm, largest for the noisy samples the
  network starts to fit: it ranks noisy samples high. Kept for the ablation.
With hard observed labels on the "after" side a sample whose label the network does not fit
(a noisy one) gets a large "after" CE and a negative margin.

As the reference, by default: reward samples are crop/flip-augmented when drawn
(``reward_augment``; the reference queue stores augmented images), never mixed; the meta loss
carries the weight-decay term of FC' (``meta_weight_decay``); the look-ahead folds in the
optimiser's momentum buffer and weight decay (``lookahead_momentum``). Options where the
reference leaves room: ``reward_bn="eval"`` (running statistics, cheaper);
``meta_layers`` other than "fc" (an int k: the last k modules with parameters, as for L2R and
MWN; module-name prefixes; or "all") uses torch.func:
exact but a second forward of the training batch (paper Figure 4 right).
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._device import to_device
from ._dictionary import PUSHERS, Dictionary  # noqa: F401 (PUSHERS: the suites read it here)
from ._functional import (META_LAYERS, deep_lookahead, eval_mode, frozen_bn_stats, meta_parameter_names,
                          named_subset)
from ._precision import at_least_fp32, full_precision
from .base import Method, smooth_onehot, soft_ce
from .domains import Bool, Choice, Int, Real
from .spaces import IntRange, LogUniform, Uniform

MARGINS = ("hard_label", "reference", "same_batch")


def closed_form_eps_grad(h, p, t, h_r, t_r, weight, bias, alpha, wd=0.0):
    """d L_meta / d eps for a look-ahead FC' = (weight, bias) on the last layer.

    h (B, d), p (B, C), t (B, C): training features, softmax and targets at FC;
    h_r (q, d), t_r (q, C): reward features and targets; weight (C, d), bias (C,): FC';
    ``wd``: the meta loss carries wd / 2 * |FC'|^2 (the reference's regulariser).
    Returns (grad (B,), meta loss)."""
    logits_r = h_r @ weight.T + bias
    meta_loss = soft_ce(logits_r, t_r).mean()
    g = (torch.softmax(logits_r, 1) - t_r) / len(h_r)   # d L_meta / d logits_r
    G_W, G_b = g.T @ h_r, g.sum(0)                       # (C, d), (C,)
    if wd:
        meta_loss = meta_loss + 0.5 * wd * (weight.pow(2).sum() + bias.pow(2).sum())
        G_W, G_b = G_W + wd * weight, G_b + wd * bias
    grad = -alpha * ((h @ G_W.T + G_b) * (p - t)).sum(1)  # one B x d x C contraction
    return grad, meta_loss


class FSR(Method):
    defaults = {
        "dictionary_size": 2000,   # |R|, |R| // C per class
        "dictionary_max_fraction": 0.1,  # cap |R| at this fraction of the training set (small data sets)
        "reward_batch": 200,       # q, q // C per class from the dictionary each step
        "alpha": 0.1,              # look-ahead step size
        "lookahead_momentum": True,  # fold the optimiser's momentum buffer and weight decay into FC'
        "score_momentum": 0.9,     # momentum of the per-sample score (the paper's lambda)
        "reweight_start": 20,      # warm-up E: int epochs, float in (0, 1) fraction of the run, or "lr_decay"
        "weight_rule": "clip",     # weights from the meta-gradient: "clip" (noise) or "shift" (long tail)
        "pusher": "meta_margin",   # or neg_loss, max_margin, forgetting, aum
        "margin": "reference",     # meta-margin "after" side: "reference" (the un-mixed batch, as the
                                   # reference code), "hard_label" (cheaper) or "same_batch" (ablation)
        "meta_weight_decay": True, # the meta loss carries the weight-decay term of FC', as the reference
        "relabel": True,           # momentum re-labelling loss after the warm-up
        "relabel_weight": 2.0,     # p
        "relabel_history": 0.1,    # weight on the history in the logit EMA
        "mixup": True,             # MixUp of the training batch, coefficient 1 - u^2 / 2
        "label_smoothing": 0.0,    # on the reward (meta) targets; on the training targets too without MixUp
        "reward_augment": True,    # crop/flip reward samples when drawn (the reference queue stores augmented ones)
        "reward_bn": "batch",      # "batch" (batch statistics of [reward; un-mixed], not updated; the
                                   # reference) or "eval" (running statistics)
        "meta_layers": "fc",       # "fc" (closed form), int k (the last k modules), prefixes or "all"
    }

    domains = {
        "dictionary_size": Int(1), "dictionary_max_fraction": Real(0, 1, lo_open=True), "reward_batch": Int(1),
        "alpha": Real(0, lo_open=True), "lookahead_momentum": Bool(), "score_momentum": Real(0, 1, hi_open=True),
        "reweight_start": Int(0) | Real(0, 1, lo_open=True, hi_open=True) | Choice("lr_decay"),
        "weight_rule": Choice("clip", "shift"), "pusher": Choice(*PUSHERS), "margin": Choice(*MARGINS),
        "meta_weight_decay": Bool(), "relabel": Bool(), "relabel_weight": Real(0),
        "relabel_history": Real(0, 1, hi_open=True), "mixup": Bool(), "label_smoothing": Real(0, 1),
        "reward_augment": Bool(), "reward_bn": Choice("batch", "eval"), "meta_layers": META_LAYERS,
    }
    # the warm-up as a fraction of the run (any profile's length); |R| from one reward batch (q <= |R|)
    search_space = {"reweight_start": Uniform(0.05, 0.5), "dictionary_size": IntRange(200, 4000),
                    "relabel_weight": LogUniform(0.25, 4.0), "score_momentum": Uniform(0.5, 0.99)}
    #: one name per concept: a momentum is a ``*_momentum``, the schedule's ``warmup`` is the
    #: learning rate's, ``normalize`` is MWN's switch
    renamed = {"lam": "score_momentum", "warmup_epochs": "reweight_start", "normalize": "weight_rule"}
    relative_cost = 2.2
    state_attrs = ("gen", "dictionary", "ema_logits", "active_from_decay", "max_lr")

    @classmethod
    def check_together(cls, hp, who):
        """The reference's rule: the dictionary holds at least one reward batch (ieg/models/fsr.py
        ``Queue.__init__``: ``assert capacity >= batch_size``, queue_capacity >= queue_bs)."""
        if hp["reward_batch"] > hp["dictionary_size"]:
            raise ValueError(f"{who}: reward_batch={hp['reward_batch']} exceeds dictionary_size="
                             f"{hp['dictionary_size']}; the dictionary must hold at least one reward batch "
                             "(q <= |R|, as the reference asserts): lower reward_batch too")

    def __init__(self, model, ctx, **hparams):
        super().__init__(model, ctx, **hparams)
        hp = self.hp
        if ctx.train_x is None or ctx.train_y is None:
            raise ValueError("fsr needs ctx.train_x / ctx.train_y")
        dev, n, C = ctx.device, ctx.num_train, ctx.num_classes
        self.gen = ctx.stream("fsr")
        self.labels = ctx.train_y.to(dev)
        per_class = max(1, min(hp["dictionary_size"], int(hp["dictionary_max_fraction"] * n)) // C)
        draw = max(1, hp["reward_batch"] // C)
        if draw > per_class:   # q <= |R| (check_together): only where |R| was capped by the training set
            warnings.warn(f"fsr: the dictionary holds {per_class} per class (at most dictionary_max_fraction="
                          f"{hp['dictionary_max_fraction']:g} of the {n} training samples), fewer than the {draw} "
                          "per class a reward batch draws; each batch repeats samples")
        self.dictionary = Dictionary(self.labels, C, per_class, draw, hp["pusher"], hp["score_momentum"], self.gen,
                                     ctx.train_x.dtype)
        if hp["relabel"]:
            self.ema_logits = torch.zeros(n, C, device=dev, dtype=ctx.train_x.dtype)
        self.active_from_decay = False
        self.max_lr = 0.0

    def on_epoch_end(self, epoch):
        return self.dictionary.refresh()

    def effective(self):
        """|R| and q as the dictionary holds and draws them (per class, after the cap at
        dictionary_max_fraction of the training set, times the classes that have samples), and
        a warm-up given as a fraction of the run in epochs."""
        d, E = self.dictionary, self.hp["reweight_start"]
        out = {"dictionary_size": d.per_class * len(d.classes), "reward_batch": d.draw_per_class * len(d.classes)}
        if isinstance(E, float) and 0 < E < 1:
            out["reweight_start"] = round(E * self.ctx.epochs)
        return out

    def reward_batch(self):
        """q samples of the dictionary, class-balanced (crop/flip-augmented if ``reward_augment``)."""
        idx = self.dictionary.draw()
        x = self.ctx.train_x[idx]
        return (self.ctx.augment(x, generator=self.gen) if self.hp["reward_augment"] else x), self.labels[idx]

    # ---------------------------------------------------------------- step
    def _active(self, info) -> bool:
        E = self.hp["reweight_start"]
        if E == "lr_decay":  # deferred: from the first step whose rate is below half the peak so far
            self.max_lr = max(self.max_lr, info.lr)
            self.active_from_decay |= info.lr < 0.5 * self.max_lr
            return self.active_from_decay
        if isinstance(E, float) and 0 < E < 1:
            E = round(E * info.epochs)
        return info.epoch >= E

    def _lookahead_direction(self, p: nn.Parameter, grad: torch.Tensor) -> torch.Tensor:
        """The real optimiser's next update direction for ``p`` given its data gradient."""
        if not self.hp["lookahead_momentum"]:
            return grad
        group = self.opt.param_groups[0]
        d = grad + group["weight_decay"] * p.detach()
        buf = self.opt.state.get(p, {}).get("momentum_buffer")
        return d if buf is None else d + group["momentum"] * buf

    def train_step(self, batch, info):
        hp, C, B = self.hp, self.ctx.num_classes, len(batch.y)
        active = self._active(info)
        reward, t_r, h_unmixed = self._reward_features(batch, active)
        x, target = self._mixup(batch)
        h = self.model.features(x)
        logits = self.model.fc(h)
        ce = soft_ce(logits, target)
        hard = F.one_hot(batch.y, C).to(ce.dtype)
        grad, meta_loss, margin = self._lookahead(x, h, logits, ce, target, hard, batch, reward, t_r,
                                                  h_unmixed, active)
        self.dictionary.update(batch.idx, logits.detach(), target, batch.y, margin)
        w = self._weights(grad, B) if active else torch.full((B,), 1.0 / B, device=ce.device, dtype=ce.dtype)
        loss = (w * ce).sum()
        out = {}
        if hp["relabel"]:
            relabel = self._relabel(batch.idx, logits, active)
            if active:
                loss = loss + hp["relabel_weight"] * relabel
                out["relabel_loss"] = relabel.detach()
        self.sgd_step(loss)
        out.update(loss=loss.detach(), margin=margin.mean())
        if active:
            out.update(meta_loss=meta_loss.detach(), weights=w.detach())
        return out

    # ---------------------------------------------------------------- the step's phases
    def _margin_kind(self) -> str:
        return self.hp["margin"] if self.hp["pusher"] == "meta_margin" else "hard_label"

    def _reward_features(self, batch, active):
        """Phase 1, no gradient: the reward batch's features (or inputs, for deeper meta layers)
        and, for the reference margin with MixUp, the un-mixed batch's features. With
        ``reward_bn="batch"`` both come from ONE forward of [reward; un-mixed] on that batch's
        statistics, running statistics untouched, as the reference's ``meta_optimize``; it runs
        in the warm-up too, so the margin's "after" side is the same in both phases."""
        hp, model = self.hp, self.model
        unmixed = self._margin_kind() == "reference" and hp["mixup"] and hp["meta_layers"] == "fc"
        joint = unmixed and hp["reward_bn"] == "batch"
        if not (active or joint):
            if not unmixed:
                return None, None, None
            with torch.no_grad(), eval_mode(model):
                return None, None, model.features(batch.x)
        x_r, y_r = self.reward_batch()
        t_r = smooth_onehot(y_r, self.ctx.num_classes, hp["label_smoothing"], x_r.dtype)
        if hp["meta_layers"] != "fc":
            return x_r, t_r, None
        bn = eval_mode(model) if hp["reward_bn"] == "eval" else frozen_bn_stats(model)
        with torch.no_grad(), bn:
            if joint:
                f = model.features(torch.cat([x_r, batch.x]))
                return f[:len(x_r)], t_r, f[len(x_r):]
            # eval BatchNorm is per sample: two forwards equal one joint forward (and beat it on CPU)
            return model.features(x_r), t_r, (model.features(batch.x) if unmixed else None)

    def _mixup(self, batch):
        """Phase 2: MixUp within the batch, coefficient 1 - u^2 / 2, on inputs and targets. As the
        reference's ``train_step``, label smoothing applies to the training targets without MixUp
        only; with MixUp they are the mixed one-hot targets (the reward targets are smoothed in
        both cases, ``_reward_features``)."""
        hp, x = self.hp, batch.x
        if not hp["mixup"]:
            return x, smooth_onehot(batch.y, self.ctx.num_classes, hp["label_smoothing"], x.dtype)
        target = F.one_hot(batch.y, self.ctx.num_classes).to(x.dtype)
        B = len(batch.y)
        u = to_device(torch.rand(B, generator=self.gen, dtype=x.dtype), x.device)
        mix = 1 - u ** 2 / 2
        perm = to_device(torch.randperm(B, generator=self.gen), x.device)
        m = mix.view(-1, *[1] * (x.dim() - 1))
        return m * x + (1 - m) * x[perm], mix[:, None] * target + (1 - mix[:, None]) * target[perm]

    def _lookahead(self, x, h, logits, ce, target, hard, batch, reward, t_r, h_unmixed, active):
        """Phase 3: FC' = FC - alpha * direction(sum_i CE_i / B), the eps-gradient of the meta
        loss at FC' in closed form, and the meta-margin CE_before - CE_after."""
        hp, kind, B = self.hp, self._margin_kind(), len(ce)
        if hp["meta_layers"] != "fc":
            after = {"hard_label": (x, hard), "reference": (batch.x, hard), "same_batch": (x, target)}[kind]
            meta = named_subset(self.model, meta_parameter_names(self.model, hp["meta_layers"]))
            g = self.grad(ce.sum() / B, list(meta.values()), retain_graph=True)
            directions = {n: self._lookahead_direction(q, gi.detach()) for (n, q), gi in zip(meta.items(), g)}
            grad, meta_loss, ce_after = deep_lookahead(self.model, directions, hp["alpha"], self._meta_wd(),
                                                       (x, target), (reward, t_r) if active else None, after)
            return grad, meta_loss, ce.detach() - ce_after
        with torch.no_grad(), full_precision(x.device.type):   # fp32 under mixed precision
            hd, p, fc = at_least_fp32(h.detach()), torch.softmax(at_least_fp32(logits.detach()), 1), self.model.fc
            reward = None if reward is None else at_least_fp32(reward)
            h_unmixed = None if h_unmixed is None else at_least_fp32(h_unmixed)
            g_logits = (p - target) / B  # eps_i = 1 / B
            W = fc.weight - hp["alpha"] * self._lookahead_direction(fc.weight, g_logits.T @ hd)
            b = fc.bias - hp["alpha"] * self._lookahead_direction(fc.bias, g_logits.sum(0))
            h_after = hd if h_unmixed is None else h_unmixed
            ce_after = soft_ce(h_after @ W.T + b, target if kind == "same_batch" else hard)
            grad = meta_loss = None
            if active:
                grad, meta_loss = closed_form_eps_grad(hd, p, target, reward, t_r, W, b, hp["alpha"],
                                                       self._meta_wd())
            return grad, meta_loss, ce.detach() - ce_after

    def _meta_wd(self) -> float:
        """The weight-decay coefficient of the meta loss's regulariser on FC' (the reference adds
        the network's weight-decay loss of the looked-ahead variables to its meta loss)."""
        return self.opt.param_groups[0]["weight_decay"] if self.hp["meta_weight_decay"] else 0.0

    def _weights(self, grad, B):
        """Phase 4: "clip" max(0, -g), "shift" r - min(r) + 1/B with r = 1/B - g; / (sum + 1e-5)."""
        if self.hp["weight_rule"] == "clip":
            w = (-grad).clamp_min(0)
        else:
            raw = 1.0 / B - grad
            w = raw - raw.min() + 1.0 / B
        return w / (w.sum() + 1e-5)

    def _relabel(self, idx, logits, active):
        """Phase 5: the momentum re-labelling loss CE(softmax(ema), logits) (after the warm-up)
        and the update of the per-sample logit EMA, RMS-normalised over the batch."""
        ema = self.ema_logits[idx]
        ema = ema * torch.rsqrt(ema.pow(2).mean() + 1e-8)
        relabel = soft_ce(logits, torch.softmax(ema, 1)).mean() if active else None
        h_ = self.hp["relabel_history"]
        self.ema_logits[idx] = h_ * ema + (1 - h_) * logits.detach()
        return relabel

class FSRDeferred(FSR):
    """FSR-DF, the paper's long-tail setting: re-weighting starts at the first learning-rate
    decay (160 of 200 epochs in the long-tail schedule), shift normalisation, |R| = 3k,
    q = 800, label smoothing 0.1, no re-labelling or MixUp."""

    defaults = {**FSR.defaults, "reweight_start": "lr_decay", "weight_rule": "shift",
                "dictionary_size": 3000, "reward_batch": 800, "label_smoothing": 0.1,
                "relabel": False, "mixup": False}
    # re-weighting from the decay, as declared; |R| holds its q = 800
    search_space = {"dictionary_size": IntRange(800, 6000), "score_momentum": Uniform(0.5, 0.99)}
