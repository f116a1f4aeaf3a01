"""FSR's dictionary R: per observed class, the |R| / C training samples a pusher scores highest,
re-chosen at every epoch end, from which each step draws its class-balanced reward batch.

A pusher scores the samples of each training batch:
- "meta_margin" (FSR): the meta-margin, CE before minus CE after the look-ahead, smoothed by a
  momentum score s <- m * s + (1 - m) * margin (m: FSR's ``score_momentum``);
- "neg_loss": minus the per-sample CE, smoothed the same way;
- "max_margin": the logit of the observed label minus the largest other, smoothed the same way;
- "aum": that logit margin averaged over every presentation (area under the margin);
- "forgetting": fewest forgetting events (correct, then wrong) first; never learned last.
Samples never scored rank after every scored one. A class with fewer samples than |R| / C is
filled with replacement (with a warning); a class with no sample is left out (with a warning).
"""
from __future__ import annotations

import warnings

import torch

from ._device import to_device
from .base import soft_ce

PUSHERS = ("meta_margin", "neg_loss", "max_margin", "forgetting", "aum")


class Dictionary:
    """``indices`` (classes, |R| / C) of training samples; ``update`` scores a batch, ``refresh``
    re-chooses R, ``draw`` is the next reward batch's indices. ``gen`` is the method's generator
    (shared: the draws interleave with its other random numbers)."""

    def __init__(self, labels, num_classes, per_class, draw_per_class, pusher, momentum, gen, dtype):
        if pusher not in PUSHERS:
            raise ValueError(f"fsr: pusher must be one of {PUSHERS}, not {pusher!r}")
        n, dev = len(labels), labels.device
        self.labels, self.per_class, self.draw_per_class = labels, per_class, draw_per_class
        self.pusher, self.momentum, self.gen = pusher, momentum, gen
        self.classes = [c for c in range(num_classes) if (labels == c).any()]
        if len(self.classes) < num_classes:
            warnings.warn(f"fsr: {num_classes - len(self.classes)} class(es) have no training sample; "
                          "the dictionary leaves them out")
        self.state = {"score": torch.zeros(n, device=dev, dtype=dtype),
                      "seen": torch.zeros(n, dtype=torch.bool, device=dev)}
        if pusher == "aum":
            self.state["count"] = torch.zeros(n, device=dev)
        if pusher == "forgetting":
            self.state.update(prev_correct=torch.zeros(n, dtype=torch.bool, device=dev),
                              ever_correct=torch.zeros(n, dtype=torch.bool, device=dev),
                              forgets=torch.zeros(n, device=dev))
        self.indices = self._fill(lambda idx: idx[torch.randperm(len(idx), generator=gen).to(dev)])

    @property
    def score(self) -> torch.Tensor:
        return self.state["score"]

    @property
    def seen(self) -> torch.Tensor:
        return self.state["seen"]

    def state_dict(self) -> dict:
        return {"indices": self.indices.clone(), **{k: v.clone() for k, v in self.state.items()}}

    def load_state_dict(self, saved: dict) -> None:
        self.indices = saved["indices"].to(self.indices.device)
        self.state = {k: saved[k].to(v.device) for k, v in self.state.items()}

    def _fill(self, rank) -> torch.Tensor:
        """Per class the first ``per_class`` of ``rank(indices of the class)``."""
        rows = []
        for c in self.classes:
            idx = rank((self.labels == c).nonzero().squeeze(1))
            if len(idx) < self.per_class:
                warnings.warn(f"fsr: class {c} has {len(idx)} samples, fewer than {self.per_class} "
                              "per class in the dictionary; drawing with replacement")
                extra = idx[torch.randint(len(idx), (self.per_class - len(idx),), generator=self.gen).to(idx.device)]
                idx = torch.cat([idx, extra])
            rows.append(idx[:self.per_class])
        return torch.stack(rows)

    def update(self, idx, logits, target, y, margin) -> None:
        """Score the batch ``idx`` (its logits, soft targets, observed labels, meta-margins)."""
        s, pusher = self.state, self.pusher
        s["seen"][idx] = True
        if pusher == "meta_margin":
            value = margin
        elif pusher == "neg_loss":
            value = -soft_ce(logits, target)
        else:
            true = logits.gather(1, y[:, None]).squeeze(1)
            other = logits.scatter(1, y[:, None], -float("inf")).amax(1)
            value = true - other
        if pusher == "aum":
            s["count"][idx] += 1
            s["score"][idx] += (value - s["score"][idx]) / s["count"][idx]
        elif pusher == "forgetting":
            correct = logits.argmax(1) == y
            s["forgets"][idx] += (s["prev_correct"][idx] & ~correct).float()
            s["prev_correct"][idx] = correct
            s["ever_correct"][idx] |= correct
        else:
            s["score"][idx] = self.momentum * s["score"][idx] + (1 - self.momentum) * value

    def refresh(self) -> dict:
        """Re-choose R by the scores; what the epoch's line reports of it."""
        key = self.score.clone()
        if self.pusher == "forgetting":
            key = torch.where(self.state["ever_correct"], -self.state["forgets"], torch.full_like(key, -1e9))
        key[~self.seen] = -float("inf")
        self.indices = self._fill(lambda idx: idx[key[idx].argsort(descending=True, stable=True)])
        d = self.indices.flatten()
        return {"dictionary": d, "dict_score": float(key[d].clamp_min(-1e9).mean()),
                "seen_ratio": float(self.seen.float().mean())}

    def draw(self) -> torch.Tensor:
        """``draw_per_class`` indices per class of R (without replacement where R allows)."""
        rows, m, k = len(self.classes), self.per_class, self.draw_per_class
        if k <= m:
            cols = torch.rand(rows, m, generator=self.gen).argsort(1)[:, :k]
        else:
            cols = torch.randint(m, (rows, k), generator=self.gen)
        return self.indices.gather(1, to_device(cols, self.indices.device)).flatten()
