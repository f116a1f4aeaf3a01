"""Label corruptions as pure, seeded functions, and their small spec objects.

A spec's string form is what the command line takes: ``uniform:0.4`` (a random label from all
C classes with probability R, the FSR reference's convention), ``sym:0.4`` (a random *other*
class), ``asym:0.2`` (class c -> asym_target[c] with probability R), ``lt:50`` (exponential long
tail, imbalance 50), ``human:worst`` (a published human label set, CIFAR-N: datasets.human),
``clean``, and combinations joined by ``+`` such as ``lt:50+uniform:0.2`` (applied left to
right; the long tail always comes first).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: the kinds, each with the fixed id of its random stream (``corrupt``: one stream per stage, from
#: the seed, the stage and this id). An id is never changed or reused: a new kind takes a new one,
#: wherever it is listed, so that no existing kind's labels change.
KINDS = {"uniform": 0, "sym": 1, "asym": 2, "lt": 3, "idn": 4, "human": 5}
#: the human label sets (CIFAR-N, datasets.human): name -> (its data set, the key in the published file)
HUMAN_LABELS = {"aggre": ("cifar10", "aggre_label"), "rand1": ("cifar10", "random_label1"),
                "rand2": ("cifar10", "random_label2"), "rand3": ("cifar10", "random_label3"),
                "worst": ("cifar10", "worse_label"), "noisy": ("cifar100", "noisy_label")}


class SpecError(ValueError):
    """A corruption string that does not parse, or a ratio outside its range."""


@dataclass(frozen=True)
class Corruption:
    kind: str
    value: float | str      # a ratio; human noise: the label set's name

    def __str__(self) -> str:
        return f"{self.kind}:{self.value if isinstance(self.value, str) else number_text(self.value)}"


def number_text(value: float) -> str:
    """``value`` in ``g`` format, 6 significant digits as always (0.2, 200, 1e+06), or as many more
    as it takes to read back as the same number (0.1234567): two rates are never one string."""
    for digits in range(6, 18):   # 17 significant digits read back as the same float, always
        text = format(value, f".{digits}g")
        if float(text) == value:
            return text
    return format(value, "g")     # NaN


#: a ``+`` that joins two corruptions (one before a kind's name, not an exponent's: ``lt:1e+06``)
JOIN = re.compile(r"\+(?=\s*[A-Za-z])")


@dataclass(frozen=True)
class Spec:
    parts: tuple[Corruption, ...] = ()

    def __str__(self) -> str:
        return "+".join(str(p) for p in self.parts) or "clean"

    def get(self, kind: str) -> float | None:
        return next((p.value for p in self.parts if p.kind == kind), None)

    @property
    def noise_type(self) -> str:
        kinds = [p.kind for p in self.parts if p.kind != "lt"]
        return kinds[0] if kinds else "none"

    @property
    def noise_ratio(self) -> float:
        """The chosen noise rate; NaN for human noise (its rate is the label set's, measured)."""
        value = next((p.value for p in self.parts if p.kind != "lt"), 0.0)
        return float("nan") if isinstance(value, str) else value

    def fits(self, dataset: str) -> bool:
        """Whether the corruption can apply to ``dataset`` (a human label set: its own only)."""
        return all(p.kind != "human" or HUMAN_LABELS[p.value][0] == dataset for p in self.parts)

    @property
    def imbalance_ratio(self) -> float:
        return self.get("lt") or 1.0


def parse(text: str | Spec) -> Spec:
    """Parse ``'lt:50+uniform:0.2'``; raises SpecError with a one-line reason."""
    if isinstance(text, Spec):
        return text
    text = str(text).strip()
    if text in ("", "clean", "none"):
        return Spec()
    parts = []
    for token in JOIN.split(text):
        kind, sep, value = token.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS or not sep:
            raise SpecError(f"bad corruption {token!r}: expected one of "
                            + ", ".join(f"{k}:VALUE" for k in KINDS))
        if kind == "human":
            if value.strip() not in HUMAN_LABELS:
                raise SpecError(f"bad corruption {token!r}: human label sets are {', '.join(HUMAN_LABELS)}")
            parts.append(Corruption(kind, value.strip()))
            continue
        try:
            v = float(value) + 0.0   # -0 is 0: one string, one trial
        except ValueError:
            raise SpecError(f"bad corruption {token!r}: {value!r} is not a number") from None
        if kind == "lt" and not (v >= 1 and np.isfinite(v)):
            raise SpecError(f"bad corruption {token!r}: imbalance ratio must be a finite number >= 1")
        if kind != "lt" and not 0 <= v <= 1:
            raise SpecError(f"bad corruption {token!r}: noise ratio must lie in [0, 1]")
        parts.append(Corruption(kind, v))
    if sum(p.kind != "lt" for p in parts) > 1 or sum(p.kind == "lt" for p in parts) > 1:
        raise SpecError(f"bad corruption {text!r}: at most one long tail and one label noise")
    parts.sort(key=lambda p: p.kind != "lt")  # long tail first, then noise
    return Spec(tuple(parts))


@dataclass
class Corrupted:
    """Result of corrupting a label vector.

    ``kept`` indexes the input labels (the long tail drops samples); ``observed`` and ``true``
    are the labels of the kept samples; ``clean`` is ``observed == true``.
    """

    kept: np.ndarray
    observed: np.ndarray
    true: np.ndarray

    @property
    def clean(self) -> np.ndarray:
        return self.observed == self.true

    @property
    def realized_noise(self) -> float:
        return float(1.0 - self.clean.mean()) if len(self.true) else 0.0


def long_tail_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Cui et al. / LDAM-DRW profile: class i keeps int(n_max * (1/imb)^(i/(C-1)))."""
    if num_classes == 1:
        return [n_max]
    return [int(n_max * (1.0 / imbalance) ** (i / (num_classes - 1))) for i in range(num_classes)]


def long_tail(labels: np.ndarray, num_classes: int, imbalance: float, rng) -> np.ndarray:
    """Indices kept: per class, the first ``count`` samples after a seeded per-class shuffle.

    ``n_max`` is the largest class's size; a class smaller than its quota keeps all it has."""
    n_max = int(np.bincount(labels, minlength=num_classes).max())
    keep = []
    for c, n in enumerate(long_tail_counts(n_max, num_classes, imbalance)):
        idx = np.flatnonzero(labels == c)
        keep.append(rng.permutation(idx)[:n])
    return np.sort(np.concatenate(keep))


def uniform_noise(labels, num_classes, ratio, rng, include_true=True) -> np.ndarray:
    """With probability ``ratio`` replace a label by a uniform draw from all classes
    (``include_true``) or from the C - 1 other classes."""
    flip = rng.random(len(labels)) < ratio
    if num_classes < 2:
        return labels.copy()
    if include_true:
        new = rng.integers(0, num_classes, len(labels))
    else:
        new = (labels + rng.integers(1, num_classes, len(labels))) % num_classes
    return np.where(flip, new, labels)


def asym_noise(labels, target, ratio, rng) -> np.ndarray:
    """With probability ``ratio`` flip class c to ``target[c]`` (classes mapped to themselves stay)."""
    flip = rng.random(len(labels)) < ratio
    return np.where(flip, np.asarray(target, dtype=np.int64)[labels], labels)


def idn_noise(labels, features, num_classes, ratio, rng) -> np.ndarray:
    """Instance-dependent noise as Xia et al. (NeurIPS 2020) generate it: per sample a flip rate
    q_i from N(ratio, 0.1^2) truncated to [0, 1]; per class c a random projection W_c (d x C) of
    the flattened input; the sample keeps its label with probability 1 - q_i and otherwise takes
    class j != y_i with probability softmax_j(x_i W_{y_i}) (the own class left out), so that
    similar inputs of a class tend to flip to the same classes. Realised rate about ``ratio``."""
    n = len(labels)
    if n == 0 or num_classes < 2:
        return labels.copy()
    x = np.asarray(features, dtype=np.float32).reshape(n, -1)
    q = stats.truncnorm.rvs((0 - ratio) / 0.1, (1 - ratio) / 0.1, loc=ratio, scale=0.1, size=n,
                            random_state=rng) if 0 < ratio < 1 else np.full(n, float(ratio))
    W = rng.standard_normal((num_classes, x.shape[1], num_classes), dtype=np.float32)
    P = np.empty((n, num_classes))
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        A = (x[rows] @ W[c]).astype(np.float64)
        A[:, c] = -np.inf
        A = np.exp(A - A.max(1, keepdims=True))
        P[rows] = q[rows, None] * A / A.sum(1, keepdims=True)
        P[rows, c] += 1 - q[rows]
    u = rng.random(n)[:, None]
    return np.minimum((np.cumsum(P, 1) < u).sum(1), num_classes - 1).astype(np.int64)


def corrupt(labels, num_classes: int, spec, seed: int, asym_target=None, features=None, human=None) -> Corrupted:
    """Apply ``spec`` to true ``labels`` with a reproducible RNG per stage; pure. ``features``:
    the inputs aligned with ``labels`` (array-like, any shape per sample), which ``idn`` needs;
    ``human``: the human label set aligned with ``labels``, which ``human`` needs."""
    spec = parse(spec)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D vector, got shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    if asym_target is not None and len(asym_target) != num_classes:
        raise ValueError(f"asym_target has {len(asym_target)} entries for {num_classes} classes")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if spec.get("idn") is not None and features is None:
        raise ValueError("idn noise needs the inputs (features=...)")
    if spec.noise_type == "human" and (human is None or len(human) != len(labels)):
        raise ValueError("human noise needs the human labels of these samples (human=...)")
    kept = np.arange(len(labels))
    observed = labels.copy()
    for stage, part in enumerate(spec.parts):
        rng = np.random.default_rng([seed, stage, KINDS[part.kind]])
        if part.kind == "lt":
            sel = long_tail(observed, num_classes, part.value, rng)
            kept, observed = kept[sel], observed[sel]
        elif part.kind == "asym":
            target = asym_target if asym_target is not None else [
                (c + 1) % num_classes for c in range(num_classes)]
            observed = asym_noise(observed, target, part.value, rng)
        elif part.kind == "idn":
            observed = idn_noise(observed, np.asarray(features)[kept], num_classes, part.value, rng)
        elif part.kind == "human":
            observed = np.asarray(human, dtype=np.int64)[kept]
        else:
            observed = uniform_noise(observed, num_classes, part.value, rng,
                                     include_true=part.kind == "uniform")
    return Corrupted(kept=kept, observed=observed, true=labels[kept])
