"""Data sets, corruptions and reward splits of reweight-bench (not Hugging Face's ``datasets``)."""
from __future__ import annotations

from . import augment
from .base import Dataset, DatasetError
from .corruptions import Corrupted, Spec, SpecError, corrupt, parse
from .prepare import Plan, Prepared, describe, expected_noise, hold_out, plan, prepare, reward_split
from .registry import DATASETS, DEFAULT, identity, load_dataset

IS_REWEIGHT_BENCH = True  # Ray workers check this to be sure they imported this package

__all__ = ["DATASETS", "DEFAULT", "Dataset", "DatasetError", "Corrupted", "Plan", "Spec", "SpecError",
           "Prepared", "corrupt", "describe", "expected_noise", "identity", "load_dataset", "parse", "plan",
           "prepare", "reward_split"]
