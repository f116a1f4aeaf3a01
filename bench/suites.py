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

from methods.base import SGD
from methods.fsr import PUSHERS

EXECUTION_KEYS = ("data_root", "download", "device", "dataset_options", "checkpoint_dir", "checkpoint_every",
                  "channels_last")
PROFILES = ("smoke", "quick", "paper")

# Settings shared by every suite of a profile, per setting ("noise", "long_tail" or "mixed").
# quick: MNIST-1D with 4,000 training samples, where a 31-epoch run lets plain softmax fit the
# noisy labels (its final accuracy falls well below its best), so re-weighting has room to help.
# paper: the paper's and the reference scripts' protocols; the test set is evaluated on an EMA
# (0.999) of the weights, as the reference code evaluates (rows keep the raw accuracy too).
SGD_NOISE = dict(SGD)
SGD_LT = dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False)
LT_SCHEDULE = dict(name="step", warmup=5, milestones=[160, 180], factors=[0.01, 0.0001])
QUICK_LT_SCHEDULE = dict(name="step", warmup=1, milestones=[16, 18], factors=[0.01, 0.0001])
SMOKE_LT_SCHEDULE = dict(name="step", warmup=1, milestones=[1], factors=[0.01])
BASE = {
    ("smoke", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=1000,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=5),
    ("quick", "noise"): dict(dataset="mnist1d", model="small_cnn", epochs=31, batch_size=100, train_limit=4000,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=20),
    # the clean sets of L2R / MWN: 1,000 images in all (MW-Net's num_meta)
    ("paper", "noise"): dict(dataset="cifar10", model="wrn28_10", epochs=127, batch_size=100, train_limit=None,
                             optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_total=1000,
                             ema_decay=0.999),
    ("smoke", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=SMOKE_LT_SCHEDULE, reward_per_class=5),
    ("quick", "long_tail"): dict(dataset="mnist1d", model="small_cnn", epochs=20, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=QUICK_LT_SCHEDULE, reward_per_class=10),
    # 10 clean images per class (the paper's long-tail table footnote)
    ("paper", "long_tail"): dict(dataset="cifar10", model="resnet32", epochs=200, batch_size=128, train_limit=None,
                                 optim=SGD_LT, schedule=LT_SCHEDULE, reward_per_class=10, ema_decay=0.999),
    # WebVision (Table 5; run_fsr_webvision.sh): ResNet-50 from scratch, B = 16, 31 epochs of the
    # cosine schedule with restarts (1 + 2 + 4 + 8 + 16; the script's 123,300 steps of 16 on
    # ~66k images), weight decay 1e-4; smoke and quick: the small CNN on the user's folder
    ("smoke", "webvision"): dict(dataset="webvision", model="small_cnn", epochs=2, batch_size=16, train_limit=None,
                                 optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=0),
    ("quick", "webvision"): dict(dataset="webvision", model="small_cnn", epochs=15, batch_size=64, train_limit=None,
                                 optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=0),
    ("paper", "webvision"): dict(dataset="webvision", model="resnet50", epochs=31, batch_size=16, train_limit=None,
                                 optim=dict(SGD_NOISE, weight_decay=1e-4), schedule=dict(name="cosine_restarts"),
                                 reward_per_class=0, ema_decay=0.999),
}
# long tail + noise (paper Table 7), the reference script run_fsr_cifar_longtail_noise.sh: the
# long-tail protocol (ResNet-32, 200 epochs, B = 128, x0.01 at 160 and 180), no clean reward set
BASE.update({(p, "mixed"): {**BASE[(p, "long_tail")], "reward_per_class": 0} for p in PROFILES})
SEEDS = {"smoke": 1, "quick": 3, "paper": 3}
# a trial saves its state every N epochs (0: never), so that a killed sweep's --resume continues it
CHECKPOINT_EVERY = {"smoke": 0, "quick": 5, "paper": 1}
# numeric precision of the steps (methods._precision): "auto" is bf16 on a CUDA GPU that has it,
# fp32 elsewhere; a trial's config names it only where it is not fp32 (ids of fp32 trials unchanged)
PRECISION = {"smoke": "fp32", "quick": "fp32", "paper": "auto"}


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
    setting: str                       # "noise", "long_tail" or "mixed": picks the BASE settings
    corruptions: list[str]
    entries: list[Entry]
    overrides: dict = field(default_factory=dict)   # {profile: {key: value}} on top of BASE
    task: str = "train"                # "train" (bench.harness) or "cost" (bench.cost)
    datasets: dict = field(default_factory=dict)    # {profile: [names]}: several data sets (default: BASE's)

    def methods(self) -> list[str]:
        return sorted({e.method for e in self.entries})

    def settings(self, profile: str) -> dict:
        return {**BASE[(profile, self.setting)], "task": self.task, **self.overrides.get(profile, {})}


def _by_profile(value, profile):
    return value[profile] if isinstance(value, dict) and set(value) <= set(PROFILES) and value else value


def _e(method, variant="", settings=None, profiles=PROFILES, **hparams) -> Entry:
    return Entry(method, hparams, variant, settings or {}, profiles)


# FSR's dictionary is exactly Table 4's |R| in the paper profile; on the small data sets of smoke
# and quick it is capped at 10% of the training set (quick: 400 of 4,000, 40 per class; the
# paper's 4% would give 16 per class, fewer than the 20 per class its q = 200 draws each step).
SMALL_CAP = dict(dictionary_max_fraction={"smoke": 0.1, "quick": 0.1, "paper": 1.0})
# Noise (Table 4, CIFAR noise row): |R| = 2k, q = 200, p = 2, warm-up E = 20. The quick profile
# runs the same cyclic schedule in epochs (periods 1, 2, 4, 8, 16: the paper's first 31 of 127
# epochs), so E = 20 is the same point of the schedule, 5 epochs into the 16-epoch period. (E = 5,
# 20/127 of the run, ended the warm-up before the margin scores could tell the clean samples at
# 80% noise: dictionary purity 0.58, FSR 56.7% against softmax's 57.7%; with E = 20, purity 0.70
# and 70.3%; at 40% noise 94.6 and 94.4, 3 seeds each.)
FSR_NOISE = dict(dictionary_size=2000, reward_batch=200, relabel_weight=2.0,
                 warmup_epochs={"smoke": 1, "quick": 20, "paper": 20}, **SMALL_CAP)
# Long tail (Table 4, CIFAR long-tailed row; run_fsr_cifar_longtail.sh): shifted normalisation,
# |R| = 3k, q = 800, label smoothing 0.1, no re-labelling or MixUp; FSR-DF defers the
# re-weighting to the first learning-rate decay.
FSR_LT = dict(normalize="shift", dictionary_size=3000, reward_batch=800, label_smoothing=0.1, relabel=False,
              mixup=False, warmup_epochs={"smoke": 1, "quick": 2, "paper": 5}, **SMALL_CAP)
# Long tail + noise (run_fsr_cifar_longtail_noise.sh): re-weighting from epoch 160 of 200, clip
# normalisation, label smoothing 0.1, MixUp and re-labelling on (p = 2), q = 200 and
# queue_capacity = 2000: the script's |R|, which wins over Table 4's 3k (the two disagree).
FSR_MIXED = dict(normalize="clip", dictionary_size=2000, reward_batch=200, label_smoothing=0.1, mixup=True,
                 relabel=True, relabel_weight=2.0, warmup_epochs={"smoke": 1, "quick": 16, "paper": 160},
                 **SMALL_CAP)
# WebVision (Table 4, WebVision row; the script): |R| = 5k, q = 200, p = 1, warm-up E = 20 of 31
FSR_WEBVISION = dict(dictionary_size=5000, reward_batch=200, relabel_weight=1.0,
                     warmup_epochs={"smoke": 1, "quick": 10, "paper": 20}, **SMALL_CAP)
# MWN under noise on the small profiles: weights normalised to sum to one (the older official
# script's option). Unnormalised, the quick profile's weighting network learns "weight every
# sample more" in the first epochs and its sigmoid saturates at 1 for all losses (plain softmax;
# weight AUROC 0.13) in 2 of 3 seeds at 40% noise; normalised, all 3 seeds reach AUROC >= 0.88.
# The paper profile keeps the stable official script's default (no normalisation).
MWN_NOISE = dict(normalize={"smoke": True, "quick": True, "paper": False})
# MWN under long tail: the official class-imbalance script (SGD lr 1e-5, momentum 0.9, Nesterov,
# weight decay 5e-4 for the weighting net; weights normalised in the virtual and the real step).
MWN_LT = dict(wnet_optim="sgd", wnet_lr=1e-5, wnet_weight_decay=5e-4, wnet_nesterov=True, normalize=True)
NOISE_METHODS = [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn", **MWN_NOISE), _e("fsr", **FSR_NOISE)]
CB_SWEEP = [_e("cb", f"cb-{loss}-{beta}", loss=loss, beta=beta,
               profiles=PROFILES if (loss, beta) == ("softmax", 0.9999) else ("quick", "paper"))
            for loss in ("softmax", "sigmoid", "focal") for beta in (0.9, 0.99, 0.999, 0.9999)]
REWARD_SIZES = (1, 5, 10, 20, 50)   # clean samples per class (L2R) = dictionary size per class (FSR)
RAW = dict(mixup=False, relabel=False)   # FSR-Raw: neither MixUp nor momentum re-labelling
# Table 4 bottom: one hyper-parameter at a time around the defaults (CIFAR-100, 40% noise in paper).
SENSITIVITY = {
    "dictionary_size": {"smoke": (100, 200), "quick": (200, 400, 800), "paper": (1000, 2000, 4000, 8000)},
    "reward_batch": (100, 200, 400),
    "lam": (0.5, 0.9, 0.99),
    "alpha": (0.01, 0.1, 1.0),
    "relabel_history": (0.0, 0.1, 0.5),
    "relabel_weight": (1.0, 2.0, 4.0),
}
SENSITIVITY_BASE = {**FSR_NOISE, "dictionary_max_fraction": 1.0, "lam": 0.9, "alpha": 0.1, "relabel_history": 0.1,
                    "dictionary_size": {"smoke": 100, "quick": 400, "paper": 2000}}


def _sensitivity_entries() -> list[Entry]:
    out = [_e("softmax"), _e("fsr", **SENSITIVITY_BASE)]
    for key, values in SENSITIVITY.items():
        for prof in PROFILES:
            for v in _by_profile(values, prof):
                if v != _by_profile(SENSITIVITY_BASE[key], prof):
                    out.append(_e("fsr", f"fsr-{key}={v:g}", profiles=(prof,), **{**SENSITIVITY_BASE, key: v}))
    return out


# cost trials use synthetic inputs of the named data set's shape (nothing is loaded)
COST_MODELS = {"smoke": [("small_cnn", "mnist1d")], "quick": [("small_cnn", "mnist1d"), ("resnet32", "cifar10")],
               "paper": [("resnet32", "cifar10"), ("wrn28_10", "cifar10")]}

BOTH_CIFARS = {"paper": ["cifar10", "cifar100"]}
SUITES: dict[str, Suite] = {s.name: s for s in [
    Suite("label_noise", "uniform label noise 0 / 0.2 / 0.4 / 0.8 (paper Tables 1-2)", "noise",
          ["uniform:0", "uniform:0.2", "uniform:0.4", "uniform:0.8"], NOISE_METHODS, datasets=BOTH_CIFARS),
    Suite("asym_noise", "asymmetric label noise 0.2 / 0.4 (paper Table 3)", "noise",
          ["asym:0.2", "asym:0.4"], NOISE_METHODS, datasets=BOTH_CIFARS),
    Suite("long_tail", "long-tailed imbalance 200 / 50 / 10 (paper Table 6)", "long_tail",
          ["lt:200", "lt:50", "lt:10"],
          [_e("softmax"), *CB_SWEEP, _e("l2r"), _e("mwn", **MWN_LT), _e("fsr", **FSR_LT),
           _e("fsr_df", warmup_epochs="lr_decay", **SMALL_CAP)], datasets=BOTH_CIFARS),
    Suite("mixed", "long tail 1 / 10 / 50 / 200 with uniform noise 0.2 / 0.4 (paper Table 7)", "mixed",
          [f"lt:{imb}+uniform:{r}" if imb > 1 else f"uniform:{r}" for r in (0.2, 0.4) for imb in (1, 10, 50, 200)],
          [_e("softmax", label_smoothing=0.1), _e("fsr", **FSR_MIXED)]),
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
           *[_e("fsr", f"fsr-meta_margin-{m}", margin=m, **FSR_NOISE) for m in ("hard_label", "same_batch")]]),
    Suite("ablation", "MixUp x momentum re-labelling at 20% uniform noise (paper Figure 6)", "noise",
          ["uniform:0.2"],
          [_e("softmax"), _e("fsr", **FSR_NOISE), _e("fsr", "fsr-no_mixup", **FSR_NOISE, mixup=False),
           _e("fsr", "fsr-no_relabel", **FSR_NOISE, relabel=False), _e("fsr", "fsr-raw", **FSR_NOISE, **RAW)]),
    Suite("reward_size", "L2R clean reward-set size vs FSR and FSR-Raw dictionary size (paper Figure 7)", "noise",
          ["uniform:0.4"],
          [_e("softmax", "softmax", settings={"reward_per_class": max(REWARD_SIZES)})]
          + [_e("l2r", f"l2r-R{k}", settings={"reward_per_class": k}) for k in REWARD_SIZES]
          + [_e("fsr", f"{name}-R{k}", settings={"reward_per_class": k},
                **{**FSR_NOISE, **extra, "dictionary_size": 10 * k, "dictionary_max_fraction": 1.0})
             for name, extra in (("fsr", {}), ("fsr-raw", RAW)) for k in REWARD_SIZES],
          overrides={"paper": {"reward_total": None}}),
    Suite("sensitivity", "FSR's hyper-parameters one at a time around the defaults (paper Table 4 bottom)", "noise",
          ["uniform:0.4"], _sensitivity_entries(), datasets={"paper": ["cifar100"]}),
    Suite("webvision", "WebVision's first 50 classes, real web label noise (paper Table 5)", "webvision",
          ["clean"], [_e("softmax"), _e("fsr", **FSR_WEBVISION)]),
    Suite("meta_layers", "layers that take the look-ahead, FSR and L2R (paper Figure 4 right)", "noise",
          ["uniform:0.4"],
          [_e("softmax")] + [_e("fsr", f"fsr-{m}", meta_layers=m, **FSR_NOISE) for m in ("fc", 2, 4, "all")]
          + [_e("l2r", f"l2r-{m}", meta_layers=m) for m in ("fc", 2, 4, "all")]),
]}


def trial_id(config: dict) -> str:
    ident = {k: v for k, v in config.items() if k not in EXECUTION_KEYS}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_id(config: dict) -> str:
    """The identity of a report cell's row: the trial's configuration without its seed, its
    corruption (a column of the tables), its id and the execution-only keys. Trials that agree on
    it differ only in seed and corruption."""
    ident = {k: v for k, v in config.items()
             if k not in EXECUTION_KEYS and k not in ("seed", "corruption", "trial_id")}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def expand(suite: Suite, profile: str, *, methods: list[str] | None = None, dataset: str | None = None,
           seeds: int | None = None, data_root: str | None = None, download: bool = False,
           device: str = "auto", dataset_options: dict | None = None,
           checkpoint_dir: str | None = None, precision: str | None = None,
           channels_last: str = "auto") -> list[dict]:
    """The trial configs of ``suite`` under ``profile`` (each with its ``trial_id``); with
    ``checkpoint_dir``, train trials checkpoint every CHECKPOINT_EVERY[profile] epochs there;
    ``precision`` replaces the profile's (PRECISION); ``channels_last`` "auto", "on" or "off"."""
    precision = precision or PRECISION[profile]
    base = {k: _by_profile(v, profile) for k, v in suite.settings(profile).items()}
    names = [dataset] if dataset else suite.datasets.get(profile, [base["dataset"]])
    models = COST_MODELS[profile] if suite.task == "cost" else [(base["model"], d) for d in names]
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
                               device=device, dataset_options=dataset_options, checkpoint_dir=checkpoint_dir,
                               checkpoint_every=CHECKPOINT_EVERY[profile] if checkpoint_dir else 0)
                    if precision != "fp32":
                        cfg["precision"] = precision
                    if channels_last != "auto":
                        cfg["channels_last"] = channels_last == "on"
                    cfg["trial_id"] = trial_id(cfg)
                    trials.append(cfg)
    return trials
