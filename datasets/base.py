"""The in-memory data set every loader returns, the error a missing one raises, and the
fingerprint of files on disk that a trial's identity holds (``files``)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch


class DatasetError(RuntimeError):
    """A data set cannot be loaded as asked (missing files without --download, bad layout)."""


def files(*paths) -> dict:
    """``{"files": N, "fingerprint": HASH}`` of the files under ``paths`` (each a folder, walked,
    or a file; a missing one holds none): a short hash of their names (relative to the path),
    sizes and modification times. Cheap (no file is read), and it changes when a file is added,
    removed, replaced or touched: part of a trial's identity (datasets.identity)."""
    digest, count = hashlib.sha1(), 0
    for i, path in enumerate(map(Path, paths)):
        for name, size, mtime in _listing(path):
            digest.update(f"{i}\0{name}\0{size}\0{mtime}\n".encode())
            count += 1
    return {"files": count, "fingerprint": digest.hexdigest()[:12]}


def _listing(path: Path) -> list[tuple[str, int, int]]:
    """(name relative to ``path``, size, mtime in ns) of each file under ``path``, sorted by name."""
    if not path.is_dir():
        return [_stat(path, "")] if path.is_file() else []
    out, seen = [], set()
    for folder, dirs, names in os.walk(path, followlinks=True):   # links followed, as the loaders do,
        real = os.path.realpath(folder)
        if real in seen:                                           # but each real directory once
            dirs[:] = []                                           # (a link loop ends here)
            continue
        seen.add(real)
        rel = os.path.relpath(folder, path)
        out += [_stat(Path(folder, n), os.path.normpath(os.path.join(rel, n))) for n in names]
    return sorted(out)


def _stat(path: Path, name: str) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:   # a dangling link: listed, with no size
        return name, -1, -1
    return name, st.st_size, st.st_mtime_ns


@dataclass
class Dataset:
    """A whole data set as tensors: inputs already normalised float32, labels int64 (true labels).

    ``asym_target[c]`` is the class that asymmetric noise flips class ``c`` to (``c`` itself
    for classes that asymmetric noise leaves alone); ``augment`` names the batch augmentation
    that fits the inputs ("none" or "crop_flip").
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    asym_target: list[int] | None = None
    augment: str = "none"
    extra_test: dict = field(default_factory=dict)   # name -> (x, y): further test sets (e.g. ImageNet val)
    human_labels: Callable | None = None   # name -> a human label set of the training split (CIFAR-N)

    def __post_init__(self):
        if not self.class_names:
            self.class_names = [str(c) for c in range(self.num_classes)]
        if self.asym_target is None:
            self.asym_target = [(c + 1) % self.num_classes for c in range(self.num_classes)]
        self.asym_target = [int(t) for t in self.asym_target]
        self._check()

    def _check(self) -> None:
        """Cheap consistency checks, so a broken loader fails here and not mid-training."""
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if len(x) != len(y):
                raise DatasetError(f"{self.name}: {split} split has {len(x)} inputs but {len(y)} labels")
            if y.dtype != torch.int64:
                raise DatasetError(f"{self.name}: {split} labels must be int64, got {y.dtype}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DatasetError(f"{self.name}: {split} labels outside [0, {self.num_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(f"{self.name}: train inputs {tuple(self.x_train.shape[1:])} and test "
                               f"inputs {tuple(self.x_test.shape[1:])} differ in shape")
        if len(self.class_names) != self.num_classes or len(self.asym_target) != self.num_classes:
            raise DatasetError(f"{self.name}: class_names and asym_target need {self.num_classes} entries")
        if any(not 0 <= t < self.num_classes for t in self.asym_target):
            raise DatasetError(f"{self.name}: asym_target entries must lie in [0, {self.num_classes})")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])
