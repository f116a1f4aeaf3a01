"""Profiles: how big each run of a suite is, and the settings every suite of a profile shares.

``smoke`` (seconds, for tests), ``quick`` (minutes on a laptop CPU, the embedded data),
``paper`` (the paper's data, networks, schedules and hyper-parameters; a GPU).

A value that differs by profile or by data set says so by its type: ``ByProfile(smoke=1,
quick=20, paper=20)``, ``ByDataset(cifar100=0.9)``; ``resolve`` gives a trial's value of
either, for hyper-parameters and settings alike. Any other value, a plain dict included (an
optimiser's settings, a schedule), is the value itself.
"""
from __future__ import annotations

import reprlib
from dataclasses import dataclass

from datasets import DATASETS
from methods.base import SGD
from methods.domains import NULL, Bool, Choice, Int, Real
from methods.spaces import LogUniform

from ..trial.models import MODELS

#: the profiles, in order, each with the profile whose value it takes where a ByProfile names
#: none for it (None: such a ByProfile is an error). A new profile is one line here.
PROFILES: dict[str, str | None] = {"smoke": None, "quick": None, "paper": None}


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


OMIT = _Sentinel("OMIT")   # a resolved value that leaves its key out (the method's or the profile's default applies)
_NO_DEFAULT = _Sentinel("no default")


@dataclass(frozen=True, init=False, repr=False)
class _ByName:
    """A value per name (a profile's, a data set's): ``values`` by name, and ``default``
    (the class's ``DEFAULT`` unless given); names outside the class's ``known()`` are refused."""
    values: dict
    default: object

    def __init__(self, *, default=_NO_DEFAULT, **values):
        unknown = sorted(set(values) - set(self.known()))
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown {self.what}(s) {', '.join(unknown)}; "
                             f"known: {', '.join(self.known())}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "default", self.DEFAULT if default is _NO_DEFAULT else default)

    def __repr__(self) -> str:
        return _repr(self, repr)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.values.items(), key=str)), self.default))


@dataclass(frozen=True, init=False, repr=False, eq=False)
class ByProfile(_ByName):
    """A value per profile: ``ByProfile(smoke=1, quick=20, paper=20)``. A profile it does not
    name takes the value of the profile PROFILES says it follows, else ``default`` (OMIT:
    leave the key out), else resolving it is an error that names the value."""
    what, DEFAULT, known = "profile", _NO_DEFAULT, staticmethod(lambda: PROFILES)

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def covers(self, profile: str) -> bool:
        """Whether it gives ``profile`` a value (its own, a followed profile's or the default)."""
        return self.has_default or any(p in self.values for p in lineage(profile))

    def pick(self, profile: str):
        for p in lineage(profile):
            if p in self.values:
                return self.values[p]
        if self.has_default:
            return self.default
        raise ValueError(f"{_repr(self, reprlib.repr)} has no value for profile {profile!r} (nor for a profile "
                         "it follows, and no default)")


@dataclass(frozen=True, init=False, repr=False, eq=False)
class ByDataset(_ByName):
    """A value per data set: ``ByDataset(cifar100=0.9)``; a data set it does not name takes
    ``default``, which is OMIT (leave the key out: the method's or the profile's default) unless
    given."""
    what, DEFAULT, known = "data set", OMIT, staticmethod(lambda: DATASETS)

    def pick(self, dataset: str | None):
        return self.values.get(dataset, self.default)


def _repr(value, show) -> str:
    """``ByProfile(smoke=1, quick=20)``, as the value is written (``show``: each value's repr)."""
    args = [f"{k}={show(v)}" for k, v in value.values.items()]
    default = [f"default={show(value.default)}"] if value.default is not _NO_DEFAULT else []
    return f"{type(value).__name__}({', '.join(args + default)})"


def lineage(profile: str) -> list[str]:
    """``profile``, then the profile it follows, and so on (PROFILES)."""
    out = []
    while profile is not None and profile not in out:
        out.append(profile)
        profile = PROFILES.get(profile)
    return out


def resolve(value, profile: str, dataset: str | None = None):
    """A trial's value of a hyper-parameter or setting: a ByProfile's for ``profile``, a
    ByDataset's for ``dataset`` (nested either way; OMIT: leave the key out); anything else,
    a plain dict included, as it is."""
    while isinstance(value, (ByProfile, ByDataset)):
        value = value.pick(profile) if isinstance(value, ByProfile) else value.pick(dataset)
    return value


def resolve_all(values: dict, profile: str, dataset: str | None = None) -> dict:
    """Each value of ``values`` resolved (``resolve``), the OMIT ones left out."""
    out = {}
    for k, v in values.items():
        try:
            v = resolve(v, profile, dataset)
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
        if v is not OMIT:
            out[k] = v
    return out


# Settings shared by every suite of a profile, per regime (a Suite's ``regime``: "noise", "long_tail", ...).
# quick: MNIST-1D with 4,000 training samples, where a 31-epoch run lets plain softmax fit the
# noisy labels (its final accuracy falls well below its best), so re-weighting has room to help.
# paper: the paper's and the reference scripts' protocols; the test set is evaluated on an EMA
# (0.999) of the weights, as the reference code evaluates (rows keep the raw accuracy too).
SGD_NOISE = dict(SGD)
SGD_LT = dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False)
LT_SCHEDULE = dict(name="step", warmup=5, milestones=[160, 180], factors=[0.01, 0.0001])
QUICK_LT_SCHEDULE = dict(name="step", warmup=1, milestones=[16, 18], factors=[0.01, 0.0001])
SMOKE_LT_SCHEDULE = dict(name="step", warmup=1, milestones=[1], factors=[0.01])
# FSR's own long-tail protocol (google-research ieg/scripts/run_fsr_cifar_longtail.sh and
# run_fsr_cifar_longtail_noise.sh), which an entry's ``settings`` give its rows: the ResNet-32's
# weight decay 5e-4 (ieg/nets/cifar_resnetv1.py, flag `weight_decay` default; neither script
# passes it) and `--lr_schedule=custom_step` (lr 0.1, x0.01 at 160 and again at 180 of 200 epochs:
# `--decay_rate=0.01`, `--decay_epochs=160,180`), which has no warm-up (ieg/models/basemodel.py
# `set_lr_schedule`: "TODO(zizhaoz): Enable FLAGS.warmup_epochs."). The softmax and CB rows keep
# Cui et al.'s protocol above (2e-4, 5 warm-up epochs): the paper quotes Cui et al.'s numbers.
SGD_FSR_LT = dict(SGD_LT, weight_decay=5e-4)
FSR_LT_SCHEDULE = ByProfile(smoke=dict(SMOKE_LT_SCHEDULE, warmup=0), quick=dict(QUICK_LT_SCHEDULE, warmup=0),
                            paper=dict(LT_SCHEDULE, warmup=0))
FSR_LT_PROTOCOL = dict(optim=SGD_FSR_LT, schedule=FSR_LT_SCHEDULE)   # as an Entry's settings
# WebVision (paper Table 5), as google-research ieg/scripts/run_fsr_webvision.sh runs it ("Train on 8
# GPUs"): --batch_size=16 per GPU, which basemodel.py's calibrate_flags multiplies by the replica
# count (FLAGS.batch_size *= num_replicas_in_sync): a global batch of 128, here on one device;
# --max_iteration=123300 steps of it; lr 0.1 (options.py default) with momentum 0.9, no Nesterov;
# --l2_weight_decay=0.0001 (on every trainable variable, as SGD's weight decay is here); the
# default lr_schedule 'cosine' = cosine restarts, first period one epoch (decay_steps = [iter_epoch]),
# --cos_t_mul=2, --cos_m_mul=0.9, after --warmup_epochs=3 of a per-step linear warm-up from 0
# (basemodel.py set_lr_schedule); EMA 0.999 (use_ema default); ResNet-50 from scratch.
# Length: the script's steps win over the paper's text ("128 epochs"). An epoch of the reference
# is iter_epoch = N // 128 steps for N training images (ours too: N // batch_size), so the run
# is 123,300 / (N // 128) epochs: with the Google-images-only mini set (N = 65,944 in a
# third-party build of its list; not verified against the reference's zip) 123,300 / 515 =
# 239.4 epochs, 3 of them warm-up; "128 epochs" would need N of about 123k. N is known only when
# the user's folder is read, so the run is given as the reference gives it, max_steps=123300
# (bench.trial.harness: ceil(123,300 / (N // 128)) epochs, the last one cut short; 240 for N = 65,944).
# Where a one-device port differs: BatchNorm statistics and FSR's weight normalisation over the
# 128 samples, where each of the reference's 8 replicas takes its own 16; torchvision's
# ResNet-50 (v1.5) where the reference's is v2 (pre-activation). Top-5 accuracy too (Table 5).
WEBVISION_SCHEDULE = dict(name="cosine_restarts", warmup=3, first=1, mult=2, decay=0.9)
#: the settings every suite of a setting ("noise", "long_tail", "webvision" or "mixed") shares, by profile
BASE = {
    "noise": ByProfile(
        smoke=dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=1000,
                   optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=5),
        quick=dict(dataset="mnist1d", model="small_cnn", epochs=31, batch_size=100, train_limit=4000,
                   optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=20),
        # the clean sets of L2R / MWN: 1,000 images in all (MW-Net's num_meta)
        paper=dict(dataset="cifar10", model="wrn28_10", epochs=127, batch_size=100, train_limit=None,
                   optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_total=1000,
                   ema_decay=0.999)),
    # no reward set: the long tail is built from every training image (Cui et al.'s and the FSR
    # reference's counts, 5,000 / 500 per class on CIFAR); L2R's and MWN's entries set their own
    "long_tail": ByProfile(
        smoke=dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=128, train_limit=None,
                   optim=SGD_LT, schedule=SMOKE_LT_SCHEDULE, reward_per_class=0),
        quick=dict(dataset="mnist1d", model="small_cnn", epochs=20, batch_size=128, train_limit=None,
                   optim=SGD_LT, schedule=QUICK_LT_SCHEDULE, reward_per_class=0),
        paper=dict(dataset="cifar10", model="resnet32", epochs=200, batch_size=128, train_limit=None,
                   optim=SGD_LT, schedule=LT_SCHEDULE, reward_per_class=0, ema_decay=0.999)),
    # WebVision: paper above (WEBVISION_SCHEDULE); smoke and quick: the small CNN on the user's folder
    "webvision": ByProfile(
        smoke=dict(dataset="webvision", model="small_cnn", epochs=2, batch_size=16, train_limit=None,
                   optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=0,
                   top5=True),
        quick=dict(dataset="webvision", model="small_cnn", epochs=15, batch_size=64, train_limit=None,
                   optim=SGD_NOISE, schedule=dict(name="cosine_restarts"), reward_per_class=0,
                   top5=True),
        paper=dict(dataset="webvision", model="resnet50", epochs=None, max_steps=123_300,
                   batch_size=128, train_limit=None, optim=dict(SGD_NOISE, weight_decay=1e-4),
                   schedule=WEBVISION_SCHEDULE, reward_per_class=0, ema_decay=0.999, top5=True)),
}
# long tail + noise (paper Table 7), the reference script run_fsr_cifar_longtail_noise.sh: the
# long-tail protocol (ResNet-32, 200 epochs, B = 128, x0.01 at 160 and 180), no clean reward set,
# and FSR's own weight decay and no warm-up (FSR_LT_PROTOCOL) for every row: Table 7 quotes no
# softmax number, so our softmax row is FSR's baseline under the same script (like for like)
BASE["mixed"] = ByProfile(**{p: {**BASE["long_tail"].values[p], "reward_per_class": 0, "optim": SGD_FSR_LT,
                                 "schedule": FSR_LT_SCHEDULE.values[p]} for p in BASE["long_tail"].values})
#: the valid values of the trial settings a profile, a suite or ``--set`` gives (optimiser
#: settings as ``optim.NAME``), checked for every trial before a sweep (bench.sweep.checks)
SETTINGS = {
    "model": Choice(*MODELS),
    "epochs": Int(1) | NULL,        # None: a run by steps
    "max_steps": Int(1) | NULL,     # a run's length in steps instead of epochs (bench.trial.harness)
    "top5": Bool(),                 # the top-5 accuracy of each test set too
    "batch_size": Int(1),
    "eval_batch_size": Int(1),
    "train_limit": Int(1) | NULL,
    "reward_per_class": Int(0),
    "reward_total": Int(1) | NULL,
    "reward_pool_per_class": Int(0) | NULL,   # held out of training per class; the reward set is drawn from it
    "ema_decay": Real(0, 1, hi_open=True) | NULL,
    "optim.lr": Real(0, lo_open=True),
    "optim.momentum": Real(0, 1, hi_open=True),
    "optim.weight_decay": Real(0),
    "optim.nesterov": Bool(),
    "val_fraction": Real(0, 1, hi_open=True),   # held out of training, with its noisy labels (val_acc); 0: none
}
#: the trial settings every method's tuning searches (bench.sweep.tune), as --set keys (methods.spaces)
SHARED_SPACE = {"optim.lr": LogUniform(0.01, 0.3), "optim.weight_decay": LogUniform(1e-5, 1e-3)}
SEEDS = ByProfile(smoke=1, quick=3, paper=3)
# a trial saves its state every N epochs (0: never), so that a killed sweep's --resume continues it
CHECKPOINT_EVERY = ByProfile(smoke=0, quick=5, paper=1)
# numeric precision of the steps (methods._precision): "auto" is bf16 on a CUDA GPU that has it,
# fp32 elsewhere; a trial's config names it only where it is not fp32 (ids of fp32 trials unchanged)
PRECISION = ByProfile(smoke="fp32", quick="fp32", paper="auto")

