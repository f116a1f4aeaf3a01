"""From a loaded data set to what a trial trains on: reward split, then corruption."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import Dataset
from .corruptions import Spec, corrupt, parse


def reward_split(labels, num_classes: int, per_class: int, seed: int):
    """Class-balanced clean reward indices (``per_class`` of each class, by true label) and the
    remaining indices, both sorted. Taken before any corruption, so every method trains on the
    same remaining samples whether or not it uses the reward set."""
    labels = np.asarray(labels)
    if per_class <= 0:
        return np.zeros(0, dtype=np.int64), np.arange(len(labels))
    rng = np.random.default_rng([seed, 0xC1EA])
    reward = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= per_class:
            raise ValueError(f"class {c} has {len(idx)} samples, too few for {per_class} reward samples per class")
        reward.append(rng.permutation(idx)[:per_class])
    reward = np.sort(np.concatenate(reward))
    rest = np.setdiff1d(np.arange(len(labels)), reward)
    return reward, rest


@dataclass
class Prepared:
    """The tensors of one trial. ``train_index`` maps each training sample back to the loaded
    set's training split (for audit); ``y_train`` holds observed labels, ``y_true`` true ones."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    y_true: torch.Tensor
    train_index: torch.Tensor
    reward_index: torch.Tensor
    x_reward: torch.Tensor
    y_reward: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    spec: Spec
    augment: str = "none"

    @property
    def clean_mask(self) -> torch.Tensor:
        return self.y_train == self.y_true

    @property
    def realized_noise(self) -> float:
        return float(1.0 - self.clean_mask.float().mean()) if len(self.y_train) else 0.0

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.y_train, minlength=self.num_classes)

    def to(self, device) -> "Prepared":
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self


def prepare(ds: Dataset, corruption, seed: int, reward_per_class: int = 0,
            train_limit: int | None = None) -> Prepared:
    """Reward split (clean, balanced) first, then the corruption on the rest.

    ``train_limit`` keeps a seeded, stratified subset of the training split before anything
    else (for fast smoke runs)."""
    spec = parse(corruption)
    y_all = ds.y_train.numpy()
    pool = np.arange(len(y_all))
    if train_limit and train_limit < len(pool):
        rng = np.random.default_rng([seed, 0x5EED])
        pool = np.sort(rng.permutation(pool)[:train_limit])
    reward, rest = reward_split(y_all[pool], ds.num_classes, reward_per_class, seed)
    reward, rest = pool[reward], pool[rest]
    c = corrupt(y_all[rest], ds.num_classes, spec, seed, ds.asym_target)
    train = rest[c.kept]
    t = lambda a: torch.as_tensor(a, dtype=torch.int64)
    return Prepared(
        x_train=ds.x_train[t(train)], y_train=t(c.observed), y_true=t(c.true), train_index=t(train), reward_index=t(reward),
        x_reward=ds.x_train[t(reward)], y_reward=ds.y_train[t(reward)],
        x_test=ds.x_test, y_test=ds.y_test, num_classes=ds.num_classes, spec=spec,
        augment=ds.augment)
