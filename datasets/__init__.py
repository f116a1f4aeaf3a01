"""Data sets, corruptions and reward splits of reweight-bench (not Hugging Face's ``datasets``)."""
from __future__ import annotations

from . import augment
from .base import Dataset, DatasetError
from .corruptions import Corrupted, Spec, SpecError, corrupt, parse
from .embedded import load_digits, load_mnist1d
from .prepare import Prepared, prepare, reward_split

IS_REWEIGHT_BENCH = True  # Ray workers check this to be sure they imported this package

DATASETS = {
    "mnist1d": load_mnist1d,
    "digits": load_digits,
}
DEFAULT = "mnist1d"


def load_dataset(name: str, root=None, download: bool = False) -> Dataset:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name](root=root, download=download)


__all__ = ["DATASETS", "DEFAULT", "Dataset", "DatasetError", "Corrupted", "Spec", "SpecError",
           "Prepared", "corrupt", "load_dataset", "parse", "prepare", "reward_split"]
