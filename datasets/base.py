"""The in-memory data set every loader returns, and the error a missing one raises."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


class DatasetError(RuntimeError):
    """A data set cannot be loaded as asked (missing files without --download, bad layout)."""


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

    def __post_init__(self):
        if not self.class_names:
            self.class_names = [str(c) for c in range(self.num_classes)]
        if self.asym_target is None:
            self.asym_target = [(c + 1) % self.num_classes for c in range(self.num_classes)]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])
