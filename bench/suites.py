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
# quick: MNIST-1D with 4,000 training samples, where a 31-epoch run lets plain softmax fit the
# noisy labels (its final accuracy falls well below its best), so re-weighting has room to help.
SGD_NOISE = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False)
SGD_LT = dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False)
BASE = {
    ("smoke", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=1000,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=5),
    ("quick", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=31, batch_size=100, train_limit=4000,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=20),
    ("paper", "noise"): dict(dataset="cifar10", model="wrn28_10", epochs=127, batch_size=100, train_limit=None,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=10),
    ("smoke", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=dict(name="step", warmup=1, milestones=[1], factors=[0.01]),
                                 reward_per_class=5),
    ("quick", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=20, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=dict(name="step", warmup=1, milestones=[16, 18],
                                                             factors=[0.01, 0.0001]),
                                 reward_per_class=10),
    ("paper", "long_tail"): dict(dataset="cifar10", model="resnet32", epochs=200, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=dict(name="step", warmup=5, milestones=[160, 180],
                                                             factors=[0.01, 0.0001]),
                                 reward_per_class=10),
}
SEEDS = {"smoke": 1, "quick": 3, "paper": 3}


@dataclass(frozen=True)
class Entry:
    """One row of a suite's table: a method with fixed hyper-parameters and a display label.

    A hyper-parameter or setting given as ``{"smoke": a, "quick": b, "paper": c}`` takes the
    profile's value; ``settings`` override the profile's trial settings (e.g. reward_per_class);
    ``profiles`` limits the entry to some profiles."""

    method: str
    hparams: dict = field(default_factory=dict)
    variant: str = ""
    settings: dict = field(default_factory=dict)
    profiles: tuple = PROFILES

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
    task: str = "train"                # "train" (bench.harness) or "cost" (bench.cost)

    def methods(self) -> list[str]:
        return sorted({e.method for e in self.entries})

    def settings(self, profile: str) -> dict:
        return {**BASE[(profile, self.setting)], "task": self.task, **self.overrides.get(profile, {})}


def _by_profile(value, profile):
    return value[profile] if isinstance(value, dict) and set(value) <= set(PROFILES) and value else value


def _e(method, variant="", settings=None, profiles=PROFILES, **hparams) -> Entry:
    return Entry(method, hparams, variant, settings or {}, profiles)


# FSR's warm-up E = 20 of the paper's 127 noise epochs, kept in proportion.
FSR_NOISE = dict(warmup_epochs={"smoke": 1, "quick": 5, "paper": 20})
# Long tail (paper Table 4): shifted normalisation, |R| = 3k, q = 800, label smoothing 0.1,
# no re-labelling or MixUp; FSR-DF defers the re-weighting to the first learning-rate decay.
FSR_LT = dict(normalize="shift", dictionary_size=3000, reward_batch=800, label_smoothing=0.1, relabel=False,
              mixup=False, warmup_epochs={"smoke": 1, "quick": 2, "paper": 5})
# MWN under noise on the small profiles: weights normalised to sum to one (the older official
# script's option). Unnormalised, the quick profile's weighting network learns "weight every
# sample more" in the first epochs and its sigmoid saturates at 1 for all losses (plain softmax;
# weight AUROC 0.13) in 2 of 3 seeds at 40% noise; normalised, all 3 seeds reach AUROC >= 0.88.
# The paper profile keeps the stable official script's default (no normalisation).
MWN_NOISE = dict(normalise={"smoke": True, "quick": True, "paper": False})
NOISE_METHODS = [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn", **MWN_NOISE), _e("fsr", **FSR_NOISE)]
CB_SWEEP = [_e("cb", f"cb-{loss}-{beta}", loss=loss, beta=beta,
               profiles=PROFILES if (loss, beta) == ("softmax", 0.9999) else ("quick", "paper"))
            for loss in ("softmax", "sigmoid", "focal") for beta in (0.9, 0.99, 0.999, 0.9999)]
PUSHERS = ("meta_margin", "neg_loss", "max_margin", "forgetting", "aum")
REWARD_SIZES = (1, 5, 10, 20, 50)   # clean samples per class (L2R) = dictionary size per class (FSR)
# cost trials use synthetic inputs of the named data set's shape (nothing is loaded)
COST_MODELS = {"smoke": [("small_cnn", "mnist1d")], "quick": [("small_cnn", "mnist1d"), ("resnet32", "cifar10")],
               "paper": [("resnet32", "cifar10"), ("wrn28_10", "cifar10")]}

SUITES: dict[str, Suite] = {s.name: s for s in [
    Suite("label_noise", "uniform label noise 0 / 0.2 / 0.4 / 0.8 (paper Tables 1-2)", "noise",
          ["uniform:0", "uniform:0.2", "uniform:0.4", "uniform:0.8"], NOISE_METHODS),
    Suite("asym_noise", "asymmetric label noise 0.2 / 0.4 (paper Table 3)", "noise",
          ["asym:0.2", "asym:0.4"], NOISE_METHODS),
    Suite("long_tail", "long-tailed imbalance 200 / 50 / 10 (paper Table 6)", "long_tail",
          ["lt:200", "lt:50", "lt:10"],
          [_e("softmax"), *CB_SWEEP, _e("l2r"), _e("mwn"), _e("fsr", **FSR_LT),
           _e("fsr_df", warmup_epochs="lr_decay")]),
    Suite("mixed", "long tail 1 / 10 / 50 / 200 with uniform noise 0.2 / 0.4 (paper Table 7)", "noise",
          [f"lt:{imb}+uniform:{r}" if imb > 1 else f"uniform:{r}" for r in (0.2, 0.4) for imb in (1, 10, 50, 200)],
          [_e("softmax"), _e("fsr", **FSR_NOISE)]),
    Suite("cost", "per-step time and peak memory of every method per network (paper Figure 4 left)", "noise",
          ["clean"], [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn"), _e("fsr"),
                      # FSR's floor: a plain step plus one no-grad forward of q + B = 200 + 100
                      # samples on batch statistics (its reward batch joined to the un-mixed batch)
                      _e("softmax", "fsr-floor", settings={"extra_forward": 300, "extra_forward_bn": "batch"})],
          task="cost",
          overrides={p: {"steps": {"smoke": 5, "quick": 15, "paper": 30}[p], "warmup": 3} for p in PROFILES}),
    Suite("pusher", "FSR's pusher functions for the dictionary (paper Figure 5 right)", "noise",
          ["uniform:0.2", "uniform:0.4"],
          [_e("softmax"), *[_e("fsr", f"fsr-{p}", pusher=p, **FSR_NOISE) for p in PUSHERS],
           *[_e("fsr", f"fsr-meta_margin-{m}", margin=m, **FSR_NOISE) for m in ("reference", "same_batch")]]),
    Suite("reward_size", "L2R clean reward-set size vs FSR dictionary size (paper Figure 7)", "noise",
          ["uniform:0.4"],
          [_e("softmax", "softmax", settings={"reward_per_class": max(REWARD_SIZES)})]
          + [_e("l2r", f"l2r-R{k}", settings={"reward_per_class": k}) for k in REWARD_SIZES]
          + [_e("fsr", f"fsr-R{k}", settings={"reward_per_class": k}, dictionary_size=10 * k,
                dictionary_max_fraction=1.0, **FSR_NOISE) for k in REWARD_SIZES]),
    Suite("meta_layers", "layers that take the look-ahead, FSR and L2R (paper Figure 4 right)", "noise",
          ["uniform:0.4"],
          [_e("softmax")] + [_e("fsr", f"fsr-{m}", meta_layers=m, **FSR_NOISE) for m in ("fc", 2, 4, "all")]
          + [_e("l2r", f"l2r-{m}", meta_layers=m) for m in ("fc", 2, 4, "all")]),
]}


def trial_id(config: dict) -> str:
    ident = {k: v for k, v in config.items() if k not in EXECUTION_KEYS}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def expand(suite: Suite, profile: str, *, methods: list[str] | None = None, dataset: str | None = None,
           seeds: int | None = None, data_root: str | None = None, download: bool = False,
           device: str = "auto") -> list[dict]:
    """The trial configs of ``suite`` under ``profile`` (each with its ``trial_id``)."""
    base = {k: _by_profile(v, profile) for k, v in suite.settings(profile).items()}
    if dataset:
        base["dataset"] = dataset
    models = COST_MODELS[profile] if suite.task == "cost" else [(base["model"], base["dataset"])]
    trials = []
    for corruption in suite.corruptions:
        for model, data in models:
            for entry in suite.entries:
                if profile not in entry.profiles or (methods and entry.method not in methods):
                    continue
                for seed in range(seeds if seeds is not None else SEEDS[profile]):
                    cfg = dict(base, model=model, dataset=data, **{k: _by_profile(v, profile) for k, v in entry.settings.items()})
                    cfg.update(suite=suite.name, profile=profile, method=entry.method, variant=entry.label,
                               hparams={k: _by_profile(v, profile) for k, v in entry.hparams.items()},
                               corruption=corruption, seed=seed, data_root=data_root, download=download,
                               device=device)
                    cfg["trial_id"] = trial_id(cfg)
                    trials.append(cfg)
    return trials
