"""Suites (named experiment grids) and profiles (how big each run is).

A trial is one plain, JSON-able config dict for ``bench.trial.harness.train`` plus its identity:
``trial_id`` hashes what the trial is (``resolved``: the config over the harness's and the
method's defaults, without the execution-only keys), so reruns are idempotent, ``--resume``
can tell what is finished, and a changed default is a new trial. The data a trial reads from disk are
part of its config (``data_identity``, from ``with_data_identity``), so that two folders, or one
folder at two sizes, are two trials.

Each suite declares how the report shows it (``report``, a reports.layouts.SuiteReport); the
profiles (smoke, quick, paper) and their shared settings are bench.sweep.profiles'.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import datasets
from datasets.corruptions import parse
from methods import get_method_class
from methods.fsr import PUSHERS
from reports.layouts import SuiteReport
from reports.paper import MWNET_LT_SETTINGS
from reports.protocols import KEYS as protocol_keys

from ..costs import stepper
from ..trial import harness
from . import overrides
from .profiles import BASE, CHECKPOINT_EVERY, OMIT, PRECISION, PROFILES, SEEDS, ByDataset, ByProfile
from .profiles import FSR_LT_PROTOCOL, lineage, resolve, resolve_all

EXECUTION_KEYS = ("data_root", "download", "device", "dataset_options", "checkpoint_dir", "checkpoint_every",
                  "channels_last", "compile")


@dataclass(frozen=True)
class Entry:
    """One row of a suite's table: a method with fixed hyper-parameters and a display label.

    A hyper-parameter or setting given as a ``ByProfile`` or ``ByDataset`` takes the trial's
    value (profiles.resolve); ``settings`` override the profile's trial settings (e.g.
    reward_per_class); ``profiles`` limits the entry to some profiles (None: every profile; a
    profile that follows one of them too, profiles.PROFILES); ``paper`` names the paper's row it
    is compared with (default: a method's own row is the paper's row of that method)."""

    method: str
    hparams: dict = field(default_factory=dict)
    variant: str = ""
    settings: dict = field(default_factory=dict)
    profiles: tuple | None = None
    paper: str | None = None

    @property
    def label(self) -> str:
        return self.variant or self.method

    def runs_in(self, profile: str) -> bool:
        return self.profiles is None or any(p in self.profiles for p in lineage(profile))

    @property
    def paper_row(self) -> str | None:
        return self.paper or (PAPER_ROWS.get(self.method) if self.label == self.method else None)


#: the paper's row of each method's own entry (reports.paper.PUBLISHED's method names)
PAPER_ROWS = {"softmax": "SoftMax", "cb": "CB-Best", "l2r": "L2R", "mwn": "MWN", "fsr": "FSR", "fsr_df": "FSR-DF",
              "gce": "GCE", "elr": "ELR"}


@dataclass
class Suite:
    name: str
    description: str
    regime: str                        # "noise", "long_tail", "mixed" or "webvision": picks the BASE settings
    corruptions: list[str] | ByProfile   # or a list per profile
    entries: list[Entry]
    overrides: dict = field(default_factory=dict)   # {key: value (or ByProfile, ...)} on top of BASE
    task: str = "train"                # "train" (bench.trial.harness) or "cost" (bench.costs.cost)
    datasets: list | ByProfile | None = None   # several data sets (None: BASE's)
    report: SuiteReport | None = None  # its tables and plots (reports.layouts); rows and paper rows: the entries'

    def methods(self) -> list[str]:
        return sorted({e.method for e in self.entries})

    def declaration(self) -> SuiteReport:
        """How the report shows this suite: its ``report`` with the entries' labels as rows, in
        order, and the paper's row of each."""
        base = self.report or SuiteReport(title=self.name)
        rows = tuple(dict.fromkeys(e.label for e in self.entries))
        paper = {e.label: e.paper_row for e in self.entries if e.paper_row}
        return dataclasses.replace(base, rows=rows, paper_rows=paper, protocols=self.paper_protocols())

    def paper_protocols(self) -> dict:
        """Each row's protocol (reports.protocols.KEYS) as its trials of the profile set beside
        the paper's numbers (the report's ``published_profile``) run it; none for a suite
        without that profile."""
        profile = (self.report or SuiteReport(title=self.name)).published_profile
        if not all(not isinstance(v, ByProfile) or v.covers(profile) for v in (BASE[self.regime], self.corruptions)):
            return {}
        out: dict = {}
        for t in expand(self, profile, seeds=1):
            out.setdefault(t["variant"], {k: t.get(k) for k in protocol_keys})
        return out

    def settings(self, profile: str, dataset: str | None = None) -> dict:
        """The trial settings of ``profile`` (on ``dataset``): BASE's, the task, the overrides
        (an override resolved to OMIT leaves BASE's value)."""
        return {**resolve_all(resolve(BASE[self.regime], profile), profile, dataset), "task": self.task,
                **resolve_all(self.overrides, profile, dataset)}


def _e(method, variant="", settings=None, profiles=None, paper=None, **hparams) -> Entry:
    return Entry(method, hparams, variant, settings or {}, profiles, paper)


# FSR's dictionary is exactly Table 4's |R| in the paper profile; on the small data sets of smoke
# and quick it is capped at 10% of the training set (quick: 400 of 4,000, 40 per class; the
# paper's 4% would give 16 per class, fewer than the 20 per class its q = 200 draws each step).
SMALL_CAP = dict(dictionary_max_fraction=ByProfile(smoke=0.1, quick=0.1, paper=1.0))
# Noise (Table 4, CIFAR noise row): |R| = 2k, q = 200, p = 2, warm-up E = 20. The quick profile
# runs the same cyclic schedule in epochs (periods 1, 2, 4, 8, 16: the paper's first 31 of 127
# epochs), so E = 20 is the same point of the schedule, 5 epochs into the 16-epoch period. (E = 5,
# 20/127 of the run, ended the warm-up before the margin scores could tell the clean samples at
# 80% noise: dictionary purity 0.58, FSR 56.7% against softmax's 57.7%; with E = 20, purity 0.70
# and 70.3%; at 40% noise 94.6 and 94.4, 3 seeds each.)
FSR_NOISE = dict(dictionary_size=2000, reward_batch=200, relabel_weight=2.0,
                 reweight_start=ByProfile(smoke=1, quick=20, paper=20), **SMALL_CAP)
# Long tail (Table 4, CIFAR long-tailed row; run_fsr_cifar_longtail.sh): shifted normalisation,
# |R| = 3k, q = 800, label smoothing 0.1, no re-labelling or MixUp; FSR-DF defers the
# re-weighting to the first learning-rate decay (the script's `--meta_start_epoch=160`). The
# script is FSR-DF's; no script or text gives non-deferred FSR's warm-up E, so it takes the
# reference's flag default `meta_start_epoch=20` (ieg/options.py), 2 of the quick profile's 20 epochs.
FSR_LT = dict(weight_rule="shift", dictionary_size=3000, reward_batch=800, label_smoothing=0.1, relabel=False,
              mixup=False, reweight_start=ByProfile(smoke=1, quick=2, paper=20), **SMALL_CAP)
# Long-tail reward sets (paper Table 6: "10 images per class"): L2R and MWN draw theirs as
# MW-Net's class-imbalance code does (xjtushujun/Meta-weight-net_class-imbalance `build_dataset`,
# `num_meta=10`; the paper's L2R and MWN rows are that code's): per class from the balanced set
# BEFORE the long tail, whose counts then start from the remaining 4,990 / 490 (`img_max`).
# The methods without a reward set build the long tail from every image, as Cui et al. and FSR.
LT_REWARD = dict(reward_per_class=ByProfile(smoke=5, quick=10, paper=10))
# Long tail + noise (run_fsr_cifar_longtail_noise.sh): re-weighting from epoch 160 of 200, clip
# normalisation, label smoothing 0.1 (with MixUp on, of the meta loss only, as ieg/models/fsr.py),
# MixUp and re-labelling on (p = 2), q = 200 and queue_capacity = 2000: the script's |R|, which
# wins over Table 4's 3k (the two disagree). Weight decay and schedule: BASE's "mixed" (FSR_LT_PROTOCOL).
FSR_MIXED = dict(weight_rule="clip", dictionary_size=2000, reward_batch=200, label_smoothing=0.1, mixup=True,
                 relabel=True, relabel_weight=2.0, reweight_start=ByProfile(smoke=1, quick=16, paper=160),
                 **SMALL_CAP)
# WebVision (Table 4, WebVision row; run_fsr_webvision.sh): |R| = 5k (--queue_capacity=5000), q = 200
# (queue_bs default), p = 1 and history weight 0.1 (--use_pseudo_loss=all_1_0.1_1), warm-up E = 20
# (--meta_start_epoch=20, epochs counted from step 0, the 3 lr warm-up epochs included, as here).
# The run's length and schedule: bench.sweep.profiles, BASE["webvision"] (paper).
FSR_WEBVISION = dict(dictionary_size=5000, reward_batch=200, relabel_weight=1.0,
                     reweight_start=ByProfile(smoke=1, quick=10, paper=20), **SMALL_CAP)
# MWN under noise on the small profiles: weights normalised to sum to one (the older official
# script's option). Unnormalised, the quick profile's weighting network learns "weight every
# sample more" in the first epochs and its sigmoid saturates at 1 for all losses (plain softmax;
# weight AUROC 0.13) in 2 of 3 seeds at 40% noise; normalised, all 3 seeds reach AUROC >= 0.88.
# The paper profile keeps the stable official script's default (no normalisation).
MWN_NOISE = dict(normalize=ByProfile(smoke=True, quick=True, paper=False))
# MWN under long tail: the official class-imbalance script (SGD lr 1e-5, momentum 0.9, Nesterov,
# weight decay 5e-4 for the weighting net; weights normalised in the virtual and the real step).
MWN_LT = dict(wnet_optim="sgd", wnet_lr=1e-5, wnet_weight_decay=5e-4, wnet_nesterov=True, normalize=True)
# GCE and ELR: the robust-loss baselines of the paper's Tables 1-3, with their papers' settings
# (GCE q = 0.7; ELR target_momentum = 0.7, reg_weight = 3, its defaults and CIFAR-10 setting; on CIFAR-100 0.9 and 7)
# GCE's published numbers are its truncated L_q with pruning (methods.gce; AlanChou/Truncated-Loss
# main.py / README): k = 0.5, pruning every 10 epochs from start_prune = 40 of 120 epochs on
# CIFAR-10 and 80 of 150 on CIFAR-100, here as those fractions of our run (127 epochs: start_prune
# round(127 / 3) = 42 and round(127 * 8 / 15) = 68, i.e. prunings at the start of the 50th, 60th, ...,
# 120th epoch, and of the 70th, ..., 120th).
# The paper profile runs it; smoke and quick keep plain L_q (their trial ids unchanged).
GCE_TRUNCATED = dict(truncated=ByProfile(paper=True, default=OMIT), k=ByProfile(paper=0.5, default=OMIT),
                     prune_every=ByProfile(paper=10, default=OMIT),
                     prune_start=ByProfile(paper=ByDataset(cifar10=40 / 120, cifar100=80 / 150), default=OMIT),
                     prune_augment=ByProfile(paper=True, default=OMIT))
NOISE_METHODS = [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn", **MWN_NOISE), _e("fsr", **FSR_NOISE),
                 _e("gce", **GCE_TRUNCATED), _e("elr", target_momentum=ByDataset(cifar100=0.9), reg_weight=ByDataset(cifar100=7.0))]
# MWN under MW-Net's own class-imbalance protocol (xjtushujun/Meta-weight-net_class-imbalance,
# meta-weight-net-class-imbalance.py defaults): ResNet-32, 100 epochs, batch 100, SGD lr 0.1,
# momentum 0.9, Nesterov, weight decay 5e-4, no warm-up, x0.1 at epochs 80 and 90 of
# `adjust_learning_rate(optimizer, epoch + 1)`, i.e. from 0-based epochs 79 and 89 (our step
# schedule counts 0-based epochs); no EMA of the weights. It sits beside MWN's published
# long-tail numbers, which come from that protocol. The script prints its best epoch's test
# accuracy: the row's best_acc (raw, as there is no EMA) is that number; the table shows the last.
# Left as it is: the script's virtual step decays one epoch later (`epoch >= 80`, `>= 90` on the
# 0-based epoch: in epochs 79 and 89 it still takes the higher rate); our look-ahead takes the step's.
# The settings are reports.paper's record of that protocol (one place for both).
MWNET_LT_PROTOCOL = MWNET_LT_SETTINGS
# the paper's CB-Best: its best CB variant and beta per setting
CB_SWEEP = [_e("cb", f"cb-{loss}-{beta}", loss=loss, beta=beta, paper="CB-Best",
               profiles=None if (loss, beta) == ("softmax", 0.9999) else ("quick", "paper"))
            for loss in ("softmax", "sigmoid", "focal") for beta in (0.9, 0.99, 0.999, 0.9999)]
REWARD_SIZES = (1, 5, 10, 20, 50)   # clean samples per class (L2R) = dictionary size per class (FSR)
RAW = dict(mixup=False, relabel=False)   # FSR-Raw: neither MixUp nor momentum re-labelling
# Figure 7 (paper footnote 3): "a fixed 45k training data is used for all methods. For L2R, the
# varying reward data is split from the rest 5k data ... FSR does not use extra data". Every trial
# holds out the same pool of reward_pool_per_class per class (paper: 500 x 10 = 5k of CIFAR-10's
# 50k; the noise profile's reward_total of 1,000 is dropped), so every method trains on the same
# 45k images whatever k is; L2R's k per class are drawn from the pool. FSR, FSR-Raw and softmax
# do not read the reward set (FSR's dictionary comes from the 45k): their reward_per_class only
# marks the figure's x-axis (num_reward = 10 k = the dictionary size). Smoke and quick: the same
# rule on MNIST-1D, a pool of the largest reward size (50 per class: 3,500 of quick's 4,000).
REWARD_SIZE_OVERRIDES = dict(reward_pool_per_class=ByProfile(smoke=max(REWARD_SIZES), quick=max(REWARD_SIZES),
                                                             paper=500),
                             reward_total=ByProfile(paper=None, default=OMIT))


def _reward_size_entries() -> list[Entry]:
    """Softmax; L2R with k clean samples per class; FSR and FSR-Raw with a dictionary of 10 k.
    The reference's queue requires capacity >= q (ieg/models/fsr.py ``Queue.__init__``:
    ``assert capacity >= batch_size``) and q a multiple of the class count (``_cls_bal_sampling``).
    The paper does not say which q Figure 7 used; we ADAPT rather than refuse (which would drop
    the figure's points 10, 50, 100): q = min(200, |R|), i.e. 10, 50, 100 at k = 1, 5, 10 (still
    multiples of the 10 classes), and q = 200 from k = 20 on."""
    out = [_e("softmax", "softmax", settings={"reward_per_class": max(REWARD_SIZES)})]
    out += [_e("l2r", f"l2r-R{k}", settings={"reward_per_class": k}) for k in REWARD_SIZES]
    for name, extra in (("fsr", {}), ("fsr-raw", RAW)):
        for k in REWARD_SIZES:
            size = 10 * k
            out.append(_e("fsr", f"{name}-R{k}", settings={"reward_per_class": k},
                          **{**FSR_NOISE, **extra, "dictionary_size": size, "dictionary_max_fraction": 1.0,
                             "reward_batch": min(FSR_NOISE["reward_batch"], size)}))
    return out


# Figure 4 right (meta layers: caption "ResNet32 is used here", Sec. 5.4 "CIFAR10 40% with uniform
# noise using ResNet32") and Figure 6 (MixUp x re-labelling, CIFAR-10 20% uniform; network not
# stated: ResNet-32 is OUR INFERENCE, its 91.4% is 0.4 below Table 1's FSR-R32 at 20% (91.8) and
# 3.7 below the WRN-28-10 row (95.1)): the paper profile runs ResNet-32 under the noise protocol.
ON_RESNET32 = dict(model=ByProfile(paper="resnet32", default=OMIT))
# Figure 5 right: "Comparison of different pusher functions on CIFAR100 with 20% and 40% uniform
# noise" (caption; the network is not stated: the noise protocol's WRN-28-10)
PUSHER_DATASETS = ByProfile(paper=["cifar100"], default=None)
# Table 4 bottom: one hyper-parameter at a time around the defaults (CIFAR-100, 40% noise in paper).
SENSITIVITY = {
    "dictionary_size": ByProfile(smoke=(200, 400), quick=(200, 400, 800), paper=(1000, 2000, 4000, 8000)),
    "reward_batch": (100, 200, 400),
    "score_momentum": (0.5, 0.9, 0.99),
    "alpha": (0.01, 0.1, 1.0),
    "relabel_history": (0.0, 0.1, 0.5),
    "relabel_weight": (1.0, 2.0, 4.0),
}
# every point keeps q <= |R| (FSR.check_together, the reference's queue assertion): smoke's base
# |R| is quick's 400, so that q = 400 fits
SENSITIVITY_BASE = {**FSR_NOISE, "dictionary_max_fraction": 1.0, "score_momentum": 0.9, "alpha": 0.1, "relabel_history": 0.1,
                    "dictionary_size": ByProfile(smoke=400, quick=400, paper=2000)}


def _sensitivity_entries() -> list[Entry]:
    out = [_e("softmax"), _e("fsr", **SENSITIVITY_BASE)]
    for key, values in SENSITIVITY.items():
        for prof in PROFILES:
            for v in resolve(values, prof):
                if v != resolve(SENSITIVITY_BASE[key], prof):
                    out.append(_e("fsr", f"fsr-{key}={v:g}", profiles=(prof,), **{**SENSITIVITY_BASE, key: v}))
    return out


# cost trials use synthetic inputs of the named data set's shape (nothing is loaded)
COST_MODELS = ByProfile(smoke=[("small_cnn", "mnist1d")], quick=[("small_cnn", "mnist1d"), ("resnet32", "cifar10")],
                        paper=[("resnet32", "cifar10"), ("wrn28_10", "cifar10")])

BOTH_CIFARS = ByProfile(paper=["cifar10", "cifar100"], default=None)
NOISE_REPORT = lambda title, paper_table: SuiteReport(title, "noise_ratio", plots=("accuracy_vs_noise", "curves"),
                                                      paper_tables=(paper_table,))
SUITES: dict[str, Suite] = {s.name: s for s in [
    Suite("label_noise", "uniform label noise 0 / 0.2 / 0.4 / 0.8 (paper Tables 1-2)", "noise",
          ["uniform:0", "uniform:0.2", "uniform:0.4", "uniform:0.8"], NOISE_METHODS, datasets=BOTH_CIFARS,
          report=NOISE_REPORT("Label noise", "uniform noise table")),
    Suite("asym_noise", "asymmetric label noise 0.2 / 0.4 (paper Table 3)", "noise",
          ["asym:0.2", "asym:0.4"], NOISE_METHODS, datasets=BOTH_CIFARS,
          report=NOISE_REPORT("Asymmetric label noise", "asymmetric noise table")),
    Suite("long_tail", "long-tailed imbalance 200 / 50 / 10 (paper Table 6)", "long_tail",
          ["lt:200", "lt:50", "lt:10"],
          [_e("softmax"), *CB_SWEEP, _e("l2r", settings=LT_REWARD), _e("mwn", settings=LT_REWARD, **MWN_LT),
           _e("mwn", "mwn-mwnet", settings={**LT_REWARD, **MWNET_LT_PROTOCOL}, profiles=("paper",), paper="MWN",
              **MWN_LT),
           _e("fsr", settings=FSR_LT_PROTOCOL, **FSR_LT),
           _e("fsr_df", settings=FSR_LT_PROTOCOL, reweight_start="lr_decay", **SMALL_CAP)], datasets=BOTH_CIFARS,
          report=SuiteReport("Long tail", "imbalance", plots=("shots",), paper_tables=("long-tail table",))),
    Suite("mixed", "long tail 1 / 10 / 50 / 200 with uniform noise 0.2 / 0.4 (paper Table 7)", "mixed",
          [f"lt:{imb}+uniform:{r}" if imb > 1 else f"uniform:{r}" for r in (0.2, 0.4) for imb in (1, 10, 50, 200)],
          [_e("softmax", label_smoothing=0.1), _e("fsr", **FSR_MIXED)],
          report=SuiteReport("Mixed long tail and label noise", "imbalance_by_noise", paper_tables=("mixed table",))),
    Suite("cost", "per-step time and peak memory of every method per network (paper Figure 4 left)", "noise",
          ["clean"], [_e("softmax"), _e("cb"), _e("l2r"), _e("mwn"), _e("fsr"),
                      # FSR's floor: a plain step plus one no-grad forward of q + B = 200 + 100
                      # samples on batch statistics (its reward batch joined to the un-mixed batch)
                      _e("softmax", "fsr-floor", settings={"extra_forward": 300, "extra_forward_bn": "batch"})],
          task="cost", report=SuiteReport("Cost (paper Figure 4)", tables=("cost",), plots=("cost",)),
          overrides=dict(steps=ByProfile(smoke=5, quick=15, paper=30), untimed_steps=3)),
    Suite("pusher", "FSR's pusher functions for the dictionary (paper Figure 5 right)", "noise",
          ["uniform:0.2", "uniform:0.4"],
          [_e("softmax"), *[_e("fsr", f"fsr-{p}", pusher=p, **FSR_NOISE) for p in PUSHERS],
           *[_e("fsr", f"fsr-meta_margin-{m}", margin=m, **FSR_NOISE) for m in ("hard_label", "same_batch")]],
          datasets=PUSHER_DATASETS, report=SuiteReport("Pusher ablation (paper Figure 5 right)", plots=("curves",))),
    Suite("ablation", "MixUp x momentum re-labelling at 20% uniform noise (paper Figure 6)", "noise",
          ["uniform:0.2"],
          [_e("softmax"), _e("fsr", **FSR_NOISE),
           _e("fsr", "fsr-no_mixup", paper="FSR w/o MixUp", **FSR_NOISE, mixup=False),
           _e("fsr", "fsr-no_relabel", paper="FSR w/o re-labelling", **FSR_NOISE, relabel=False),
           _e("fsr", "fsr-raw", paper="FSR-Raw", **FSR_NOISE, **RAW)],
          overrides=ON_RESNET32,
          report=SuiteReport("MixUp and momentum re-labelling (paper Figure 6)", plots=("curves",),
                             paper_tables=("uniform noise table", "ablation"))),
    Suite("reward_size", "L2R clean reward-set size vs FSR and FSR-Raw dictionary size (paper Figure 7)", "noise",
          ["uniform:0.4"], _reward_size_entries(), overrides=REWARD_SIZE_OVERRIDES,
          report=SuiteReport("Reward set size (paper Figure 7)", "reward_size")),
    Suite("sensitivity", "FSR's hyper-parameters one at a time around the defaults (paper Table 4 bottom)", "noise",
          ["uniform:0.4"], _sensitivity_entries(), datasets=ByProfile(paper=["cifar100"], default=None),
          report=SuiteReport("Hyper-parameter sensitivity (paper Table 4 bottom)", paper_tables=("uniform noise table",))),
    # real human label noise (CIFAR-N); smoke and quick, on MNIST-1D, run instance-dependent noise
    # as a stand-in at about the levels of CIFAR-10N's label sets (aggre ~0.1, rand ~0.2, worst ~0.4)
    Suite("human_noise", "human label noise: CIFAR-10N / CIFAR-100N (paper profile); idn stand-in elsewhere",
          "noise", ByProfile(smoke=["idn:0.2"], quick=["idn:0.1", "idn:0.2", "idn:0.4"],
                             paper=[f"human:{n}" for n in ("aggre", "rand1", "rand2", "rand3", "worst", "noisy")]),
          NOISE_METHODS, datasets=BOTH_CIFARS,
          report=SuiteReport("Human label noise (CIFAR-N; instance-dependent stand-in below the paper profile)",
                             plots=("curves",), paper_tables=("cifar-n table",))),   # CE beside softmax (reports.paper)
    Suite("webvision", "WebVision's first 50 classes, real web label noise (paper Table 5)", "webvision",
          ["clean"], [_e("softmax"), _e("fsr", **FSR_WEBVISION)],
          report=SuiteReport("WebVision (paper Table 5)", paper_tables=("webvision table",))),
    Suite("meta_layers", "layers that take the look-ahead, FSR and L2R (paper Figure 4 right)", "noise",
          ["uniform:0.4"],
          [_e("softmax")] + [_e("fsr", f"fsr-{m}", meta_layers=m, **FSR_NOISE) for m in ("fc", 2, 4, "all")]
          + [_e("l2r", f"l2r-{m}", meta_layers=m) for m in ("fc", 2, 4, "all")], overrides=ON_RESNET32,
          report=SuiteReport("Meta layers (paper Figure 4 right)", tables=("grid", "shots", "diagnostics", "cost"))),
]}


def resolved(config: dict) -> dict:
    """What a trial is, the one definition: its config over the defaults of its task (the
    harness's, or the step runner's for a cost trial), its method's hyper-parameters over the
    method's defaults, without the execution-only keys and its own id. A changed default is a
    changed trial (and configuration); the data it reads are in it (``data_identity``)."""
    defaults = stepper.DEFAULTS if config.get("task") == "cost" else harness.DEFAULTS
    out = {k: v for k, v in {**defaults, **config}.items() if k not in EXECUTION_KEYS and k != "trial_id"}
    out["hparams"] = {**get_method_class(out["method"]).defaults, **(out["hparams"] or {})}
    if not out.get("val_fraction"):   # no validation split: the ids of the trials before it stay
        out.pop("val_fraction", None)
    return out


def _digest(ident: dict) -> str:
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def trial_id(config: dict) -> str:
    """A hash of what the trial is (``resolved``)."""
    return _digest(resolved(config))


def config_id(config: dict) -> str:
    """The identity of a report cell's row: what the trial is (``resolved``) without its seed and
    its corruption (a column of the tables). Trials that agree on it differ only in seed and corruption."""
    return _digest({k: v for k, v in resolved(config).items() if k not in ("seed", "corruption")})


def expand(suite: Suite, profile: str, *, methods: list[str] | None = None, dataset: str | None = None,
           seeds: int | None = None, data_root: str | None = None, download: bool = False,
           device: str = "auto", dataset_options: dict | None = None,
           checkpoint_dir: str | None = None, precision: str | None = None,
           channels_last: str = "auto", compile: str = "off", sets: dict | None = None) -> list[dict]:
    """The trial configs of ``suite`` under ``profile`` (each with its ``trial_id``); with
    ``checkpoint_dir``, train trials checkpoint every CHECKPOINT_EVERY epochs of the profile
    there; ``precision`` replaces the profile's (PRECISION); ``channels_last`` "auto", "on" or
    "off"; ``compile`` "off", "on", "aot_eager" or "auto" (bench.trial.capture: a captured step);
    ``sets``: the run's own choices (bench.sweep.overrides, ``--set``), applied last and recorded.
    Every value given by profile or data set is resolved here (profiles.resolve)."""
    precision = precision or resolve(PRECISION, profile)
    base = suite.settings(profile)
    names = [dataset] if dataset else resolve(suite.datasets, profile) or [base["dataset"]]
    models = resolve(COST_MODELS, profile) if suite.task == "cost" else [(base["model"], d) for d in names]
    trials = []
    for corruption in resolve(suite.corruptions, profile):
        for model, data in models:
            if not parse(corruption).fits(data):   # a human label set runs on its own data set only
                continue
            settings = suite.settings(profile, data)
            for entry in suite.entries:
                if not entry.runs_in(profile) or (methods and entry.method not in methods):
                    continue
                for seed in range(seeds if seeds is not None else resolve(SEEDS, profile)):
                    cfg = dict(settings, model=model, dataset=data, **resolve_all(entry.settings, profile, data))
                    cfg.update(suite=suite.name, profile=profile, method=entry.method, variant=entry.label,
                               hparams=resolve_all(entry.hparams, profile, data),
                               corruption=corruption, seed=seed, data_root=data_root, download=download,
                               device=device, dataset_options=dataset_options, checkpoint_dir=checkpoint_dir,
                               checkpoint_every=resolve(CHECKPOINT_EVERY, profile) if checkpoint_dir else 0)
                    overrides.apply(cfg, sets)
                    if precision != "fp32":
                        cfg["precision"] = precision
                    if channels_last != "auto":
                        cfg["channels_last"] = channels_last == "on"
                    if compile != "off":
                        cfg["compile"] = compile
                    cfg["trial_id"] = trial_id(cfg)
                    trials.append(cfg)
    return trials


def with_data_identity(trials: list[dict]) -> list[dict]:
    """The trials, each with what data it reads (``data_identity``: datasets.identity, the root,
    a fingerprint of its files, the image size) in its config, and so in its trial_id and
    config_id. The embedded and generated sets, and cost trials (which load nothing), add nothing:
    their ids stay. The driver takes it once per sweep, after any download."""
    seen: dict[tuple, dict] = {}
    out = []
    for t in trials:
        human = parse(t["corruption"]).noise_type == "human"
        key = (t["dataset"], t.get("data_root"), json.dumps(t.get("dataset_options"), sort_keys=True), human)
        if key not in seen and t.get("task") != "cost":
            seen[key] = datasets.identity(t["dataset"], t.get("data_root"), t.get("dataset_options"), t["corruption"])
        if t.get("task") != "cost" and seen[key]:
            t = dict(t, data_identity=seen[key])
            t["trial_id"] = trial_id(t)
        out.append(t)
    return out


def report_declarations() -> dict[str, SuiteReport]:
    """Every suite's report declaration, in the suites' order (for reports.build_report)."""
    return {name: suite.declaration() for name, suite in SUITES.items()}
