"""Suites (named experiment grids) and profiles (how big each run is).

A trial is one plain, JSON-able config dict for ``bench.harness.train`` plus its identity:
``trial_id`` hashes the sorted config without the execution-only keys, so reruns are
idempotent and ``--resume`` can tell what is finished.

Profiles: ``smoke`` (seconds, for tests), ``quick`` (minutes on a laptop CPU, the embedded
data), ``paper`` (the paper's data, networks, schedules and hyper-parameters; a GPU).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

EXECUTION_KEYS = ("data_root", "download", "device")
PROFILES = ("smoke", "quick", "paper")

# Settings shared by every suite of a profile, per setting ("noise" or "long_tail").
BASE = {
    ("smoke", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=2000,
                             optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
                             schedule=dict(name="cosine_restarts"), reward_per_class=10),
    ("quick", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=15, batch_size=100, train_limit=None,
                             optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
                             schedule=dict(name="cosine_restarts"), reward_per_class=10),
    ("paper", "noise"): dict(dataset="cifar10", model="wrn28_10", epochs=127, batch_size=100, train_limit=None,
                             optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
                             schedule=dict(name="cosine_restarts"), reward_per_class=10),
    ("smoke", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=None,
                                 optim=dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False),
                                 schedule=dict(name="step", warmup=1, milestones=[1], factors=[0.01]),
                                 reward_per_class=10),
    ("quick", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=20, batch_size=128, train_limit=None,
                                 optim=dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False),
                                 schedule=dict(name="step", warmup=1, milestones=[16, 18], factors=[0.01, 0.0001]),
                                 reward_per_class=10),
    ("paper", "long_tail"): dict(dataset="cifar10", model="resnet32", epochs=200, batch_size=128, train_limit=None,
                                 optim=dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False),
                                 schedule=dict(name="step", warmup=5, milestones=[160, 180], factors=[0.01, 0.0001]),
                                 reward_per_class=10),
}
SEEDS = {"smoke": 1, "quick": 3, "paper": 3}


@dataclass(frozen=True)
class Entry:
    """One row of a suite's table: a method with fixed hyper-parameters and a display label."""

    method: str
    hparams: dict = field(default_factory=dict)
    variant: str = ""

    @property
    def label(self) -> str:
        return self.variant or self.method


@dataclass
class Suite:
    name: str
    description: str
    setting: str                       # "noise" or "long_tail": picks the BASE settings
    corruptions: list[str]
    entries: list[Entry]
    overrides: dict = field(default_factory=dict)   # {profile: {key: value}} on top of BASE

    def methods(self) -> list[str]:
        return sorted({e.method for e in self.entries})

    def settings(self, profile: str) -> dict:
        return {**BASE[(profile, self.setting)], **self.overrides.get(profile, {})}


def _e(method, variant="", **hparams) -> Entry:
    return Entry(method, hparams, variant)


NOISE_METHODS = [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn"), _e("fsr")]

SUITES: dict[str, Suite] = {s.name: s for s in [
    Suite("label_noise", "uniform label noise 0 / 0.2 / 0.4 / 0.8 (paper Tables 1-2)", "noise",
          ["uniform:0", "uniform:0.2", "uniform:0.4", "uniform:0.8"], NOISE_METHODS),
]}


def trial_id(config: dict) -> str:
    ident = {k: v for k, v in config.items() if k not in EXECUTION_KEYS}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def expand(suite: Suite, profile: str, *, methods: list[str] | None = None, dataset: str | None = None,
           seeds: int | None = None, data_root: str | None = None, download: bool = False,
           device: str = "auto") -> list[dict]:
    """The trial configs of ``suite`` under ``profile`` (each with its ``trial_id``)."""
    base = suite.settings(profile)
    if dataset:
        base["dataset"] = dataset
    trials = []
    for corruption in suite.corruptions:
        for entry in suite.entries:
            if methods and entry.method not in methods:
                continue
            for seed in range(seeds if seeds is not None else SEEDS[profile]):
                cfg = dict(base, suite=suite.name, profile=profile, method=entry.method,
                           variant=entry.label, hparams=dict(entry.hparams), corruption=corruption,
                           seed=seed, data_root=data_root, download=download, device=device)
                cfg["trial_id"] = trial_id(cfg)
                trials.append(cfg)
    return trials
