"""From a loaded data set to what a trial trains on: reward split, then corruption.

``plan`` does the label-level work (which samples go to the reward set, which to training, the
observed labels); ``prepare`` gathers the tensors of one trial from it and ``describe`` summarises
it without touching the inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .base import Dataset, DatasetError
from .corruptions import Corrupted, Spec, corrupt, parse


def stratified_subset(labels, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``limit`` samples with (nearly) the class proportions
    of ``labels``: every sample gets a key (rank within its shuffled class + U(0,1)) / class size,
    and the ``limit`` smallest keys win, so each class keeps about ``limit * n_c / N``."""
    labels = np.asarray(labels)
    n = len(labels)
    if limit >= n:
        return np.arange(n)
    rng = np.random.default_rng([int(seed), 0x5EED])
    key = np.empty(n)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        key[idx] = (np.arange(len(idx)) + rng.random(len(idx))) / len(idx)
    return np.sort(np.argsort(key, kind="stable")[:limit])


def reward_split(labels, num_classes: int, per_class: int, seed: int, pool_per_class: int | None = None):
    """Class-balanced clean reward indices (``per_class`` of each class, by true label) and the
    remaining indices, both sorted. Taken before any corruption, so every method given the same
    ``per_class`` trains on the same remaining samples whether or not it uses the reward set.

    ``pool_per_class`` (>= ``per_class``; default ``per_class``): that many samples of each class
    leave training, and the reward set is the first ``per_class`` of them in the same seeded
    order, so the remaining (training) indices do not depend on ``per_class`` (paper Figure 7:
    a fixed 45k training set, the reward sets split from the other 5k)."""
    labels = np.asarray(labels)
    held = per_class if pool_per_class is None else int(pool_per_class)
    if held < per_class:
        raise DatasetError(f"a reward pool of {held} per class cannot hold {per_class} reward samples per class")
    if held <= 0:
        return np.zeros(0, dtype=np.int64), np.arange(len(labels))
    rng = np.random.default_rng([int(seed), 0xC1EA])
    reward, pool = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= held:
            what = f"{held} reward samples" if pool_per_class is None else f"a reward pool of {held}"
            raise DatasetError(f"class {c} has {len(idx)} training samples, too few for {what} per class")
        order = rng.permutation(idx)
        reward.append(order[:per_class])
        pool.append(order[:held])
    reward = np.sort(np.concatenate(reward)).astype(np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), np.concatenate(pool))
    return reward, rest


@dataclass
class Plan:
    """Label-level outcome of a trial's data preparation. ``reward`` and ``train`` index the loaded
    training split (disjoint); ``corrupted`` holds the observed and true labels of ``train``."""

    spec: Spec
    reward: np.ndarray
    train: np.ndarray
    corrupted: Corrupted


def plan(labels, num_classes: int, corruption, seed: int, reward_per_class: int = 0,
         train_limit: int | None = None, asym_target=None, features=None, human=None,
         reward_pool_per_class: int | None = None) -> Plan:
    """Stratified ``train_limit`` subset (if any), then the clean balanced reward split (out of
    a held-out pool of ``reward_pool_per_class`` per class, if given: ``reward_split``), then the
    corruption on what remains. Pure and seeded. ``features`` and ``human``: the inputs and a
    human label set aligned with ``labels`` (only idn and human noise read them)."""
    spec = parse(corruption)
    labels = np.asarray(labels, dtype=np.int64)
    pool = np.arange(len(labels))
    if train_limit and train_limit < len(pool):
        pool = stratified_subset(labels, int(train_limit), seed)
    reward, rest = reward_split(labels[pool], num_classes, reward_per_class, seed, reward_pool_per_class)
    reward, rest = pool[reward], pool[rest]
    c = corrupt(labels[rest], num_classes, spec, seed, asym_target,
                None if features is None or spec.get("idn") is None else np.asarray(features)[rest],
                None if human is None else np.asarray(human)[rest])
    return Plan(spec=spec, reward=reward, train=rest[c.kept], corrupted=c)


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
    extra_test: dict = field(default_factory=dict)   # name -> (x, y), never corrupted

    @property
    def clean_mask(self) -> torch.Tensor:
        return self.y_train == self.y_true

    @property
    def realized_noise(self) -> float:
        return float(1.0 - self.clean_mask.float().mean()) if len(self.y_train) else 0.0

    def class_counts(self) -> torch.Tensor:
        """Training samples per class by the observed labels (what a method may know)."""
        return torch.bincount(self.y_train, minlength=self.num_classes)

    def true_class_counts(self) -> torch.Tensor:
        """Training samples per class by the true labels: the class sizes of the long tail
        (the many / medium / few-shot groups), which label noise does not change."""
        return torch.bincount(self.y_true, minlength=self.num_classes)

    def to(self, device) -> "Prepared":
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        self.extra_test = {k: (x.to(device), y.to(device)) for k, (x, y) in self.extra_test.items()}
        return self


def _plan(ds: Dataset, spec: Spec, seed: int, reward_per_class: int, train_limit, reward_pool_per_class=None) -> Plan:
    """``plan`` on a loaded data set, with the inputs and the human labels where the spec needs them."""
    human = None
    if spec.noise_type == "human":
        name = spec.get("human")
        if ds.human_labels is None:
            raise DatasetError(f"human:{name}: {ds.name} has no human label sets (CIFAR-N: cifar10, cifar100)")
        human = ds.human_labels(name)
    return plan(ds.y_train.numpy(), ds.num_classes, spec, seed, reward_per_class, train_limit,
                ds.asym_target, ds.x_train if spec.get("idn") is not None else None, human, reward_pool_per_class)


def prepare(ds: Dataset, corruption, seed: int, reward_per_class: int = 0,
            train_limit: int | None = None, reward_pool_per_class: int | None = None) -> Prepared:
    """Reward split (clean, balanced; from a held-out pool of ``reward_pool_per_class`` per
    class, if given) first, then the corruption on the rest; the test split is passed through
    untouched.

    ``train_limit`` keeps a seeded, stratified subset of the training split before anything
    else (for fast smoke runs)."""
    p = _plan(ds, parse(corruption), seed, reward_per_class, train_limit, reward_pool_per_class)
    t = lambda a: torch.as_tensor(a, dtype=torch.int64)
    train, reward = t(p.train), t(p.reward)
    return Prepared(
        x_train=ds.x_train[train], y_train=t(p.corrupted.observed), y_true=t(p.corrupted.true),
        train_index=train, reward_index=reward,
        x_reward=ds.x_train[reward], y_reward=ds.y_train[reward],
        x_test=ds.x_test, y_test=ds.y_test, num_classes=ds.num_classes, spec=p.spec,
        augment=ds.augment, extra_test=dict(ds.extra_test))


#: the validation split's own random stream (past the trial's seed): no other draw changes
VAL_STREAM = 15485863


def hold_out(data: Prepared, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a seeded ``fraction`` of the training set out of it (in place) and return those
    samples' inputs and OBSERVED labels: a validation set as noisy as the training set, what a
    practitioner has for choosing hyper-parameters. The draw has its own stream (VAL_STREAM)."""
    n = len(data.y_train)
    k = min(n - 1, max(1, round(fraction * n)))
    perm = torch.as_tensor(np.random.default_rng(seed + VAL_STREAM).permutation(n))
    val, keep = perm[:k].sort().values, perm[k:].sort().values
    x_val, y_val = data.x_train[val], data.y_train[val]
    data.x_train, data.y_train, data.y_true = data.x_train[keep], data.y_train[keep], data.y_true[keep]
    data.train_index = data.train_index[keep]
    return x_val, y_val


def expected_noise(spec, true_labels, num_classes: int, asym_target=None) -> float | None:
    """The wrong-label rate the noise part of ``spec`` should produce on ``true_labels`` (in
    expectation): uniform r (C - 1) / C, sym and idn r, asym r times the share of samples whose class
    asymmetric noise moves; None for human noise (only measured)."""
    spec = parse(spec)
    if spec.noise_type == "human":
        return None
    r, kind = spec.noise_ratio, spec.noise_type
    if kind == "uniform":
        return r * (num_classes - 1) / num_classes
    if kind in ("sym", "idn"):
        return r if num_classes > 1 else 0.0
    if kind == "asym":
        y = np.asarray(true_labels, dtype=np.int64)
        target = np.asarray(asym_target if asym_target is not None
                            else [(c + 1) % num_classes for c in range(num_classes)])
        return float(r * np.mean(target[y] != y)) if len(y) else 0.0
    return 0.0


def describe(name: str, corruption, seed: int, root=None, download: bool = False,
             reward_per_class: int = 0, train_limit: int | None = None, resize=None) -> dict:
    """JSON-serialisable summary of what a trial on ``name`` under ``corruption`` trains on.

    The corruption is parsed before the data set is loaded, so a bad string fails fast
    (SpecError); a missing data set raises DatasetError."""
    from .registry import load_dataset

    spec = parse(corruption)
    ds = load_dataset(name, root, download, **({"resize": resize} if resize is not None else {}))
    p = _plan(ds, spec, seed, reward_per_class, train_limit)
    c, k = p.corrupted, ds.num_classes
    counts = lambda y: [int(v) for v in np.bincount(y, minlength=k)]
    return {
        "dataset": ds.name,
        "seed": int(seed),
        "corruption": str(spec),
        "noise_type": spec.noise_type,
        "noise_ratio": None if spec.noise_type == "human" else float(spec.noise_ratio),
        "imbalance_ratio": float(spec.imbalance_ratio),
        "num_classes": int(k),
        "class_names": [str(n) for n in ds.class_names],
        "input_shape": [int(v) for v in ds.input_shape],
        "augment": ds.augment,
        "num_train": int(len(p.train)),
        "num_test": int(len(ds.y_test)),
        "num_reward": int(len(p.reward)),
        "class_counts": counts(c.observed),
        "true_class_counts": counts(c.true),
        "test_class_counts": counts(ds.y_test.numpy()),
        "num_noisy": int((~c.clean).sum()),
        "realized_noise": float(c.realized_noise),
        "expected_noise": expected_noise(spec, c.true, k, ds.asym_target),
        "train_limit": int(train_limit) if train_limit else None,
        "reward_per_class": int(reward_per_class),
    }
