"""The paper's published numbers (Zhang & Pfister, ICCV 2021, "Learning Fast Sample
Re-weighting Without Reward Data"), test accuracy in %, from its Tables 1-7, and the CIFAR-N
cross-entropy numbers set beside our softmax rows (/work/shared/docs/published-cifar-n.md).

Each entry is keyed by the setting it was measured in; ``model=None`` marks an entry shown
beside any network (its network is not verified, or is none of ours: its protocol says which).
A published number is shown only beside our own ``profile == "paper"`` results of the same data
set, network (unless None), corruption and method. Every entry carries its ``protocol``
(reports.protocols): network, schedule and source, and what of it compares with our rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .protocols import Protocol

WRN = "wrn28_10"
R32 = "resnet32"
R34 = "resnet34"   # none of our networks: GCE, ELR and CIFAR-N were published on it


@dataclass(frozen=True)
class Published:
    dataset: str
    model: str | None
    noise_type: str        # none / uniform / asym / human
    noise_ratio: float
    imbalance_ratio: float
    method: str            # the paper's row name
    value: float           # in %
    metric: str = "test_acc"
    source: str = ""       # the table it belongs to (a suite's SuiteReport.paper_tables)
    protocol: Protocol | None = None
    corruption: str = ""   # set: it matches this corruption only (human label sets, whose ratio is NaN)


def _rows(dataset, model, noise_type, ratios, imbalances, method, values, source, metric="test_acc", *, protocol):
    out = []
    for r, imb, v in zip(ratios, imbalances, values):
        if v is None:
            continue
        out.append(Published(dataset, model, "none" if r == 0 else noise_type, r, imb, method, v,
                             metric, source, protocol))
    return out


# ---------------------------------------------------------------------------------------------
# The protocols. Values from reference code are cited by repository, file and flag; settings hold
# only what was verified (reports.protocols compares those and says the rest is not compared).
IEG = "google-research ieg/"
# ieg options.py defaults learning_rate 0.1, momentum 0.9; basemodel.py: plain tf.train.MomentumOptimizer
SGD_01 = dict(lr=0.1, momentum=0.9, nesterov=False)
FSR_NOISE = Protocol(
    "WRN-28-10", "FSR's CIFAR noise protocol: cyclic cosine learning rate for 128 epochs (paper Sec. 5.1; "
    "its periods 1, 2, ..., 64 epochs sum to 127, our run's length, so epochs are not compared), batch 100 "
    "(Table 4), SGD lr 0.1, momentum 0.9, EMA 0.999 of the weights evaluated; weight decay of its WRN not verified",
    f"FSR paper Tables 1-3 (its own runs); {IEG}options.py defaults, models/basemodel.py (EMA)", WRN,
    dict(batch_size=100, optim=SGD_01, schedule=dict(name="cosine_restarts"), ema_decay=0.999), "last epoch")
FSR_NOISE_R32 = Protocol("ResNet-32", FSR_NOISE.schedule, "FSR paper Tables 1-3, rows FSR-R32 (its own runs)", R32,
                         FSR_NOISE.settings, "last epoch")
L2R_NOISE = Protocol(
    "WRN-28-10", "not stated in the FSR paper (the row has ± over runs; who ran it, and how, is not said)",
    "FSR paper Tables 1-3, row L2R [#] (WRN-28-10: the paper's default network; its tables mark the ResNet-32 "
    "rows -R32)", WRN)
L2R_NOISE_R32 = Protocol("ResNet-32", L2R_NOISE.schedule, "FSR paper Table 3, row L2R-R32", R32)
MWN_NOISE = Protocol(
    "not verified (WRN-28-10 uniform table or ResNet-32 flip table of MW-Net)",
    "MW-Net's own (not FSR's): which of its tables the FSR paper quotes is not verified (MW-Net's poster, "
    "xjtushujun/meta-weight-net NeurIPS2019.pdf, captions its uniform-noise table WRN-28-10 and its flip-noise "
    "table ResNet-32; its tables are images); its scripts print the best test accuracy over the epochs",
    "FSR paper Tables 1-2, row MWN [#], quoting Shu et al. (NeurIPS 2019)", None, None, "best epoch")
GCE_C10, GCE_C100 = (Protocol(
    "ResNet-34",
    f"{epochs} epochs, batch 128, SGD lr 0.01, momentum 0.9, weight decay 1e-4, x0.1 at epochs {a} and {b}, no EMA; "
    f"truncated L_q (q 0.7, k 0.5) pruned at the start of every 10th epoch from the {prune}th",
    "Zhang & Sabuncu (NeurIPS 2018) as quoted in FSR Tables 1-3; protocol of the reference code "
    "AlanChou/Truncated-Loss (unofficial; main.py flags --lr --decay --batch-size, README commands "
    f"--epochs {epochs} --schedule {a} {b} --start_prune {prune}), not checked against the GCE paper's text", R34,
    dict(epochs=epochs, batch_size=128, optim=dict(lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=False),
         schedule=dict(name="step", warmup=0, milestones=[a, b], factors=[0.1, 0.01]), ema_decay=None))
    for epochs, a, b, prune in ((120, 40, 80, 40), (150, 80, 120, 80)))
_ELR = "Liu et al. (NeurIPS 2020) as quoted in FSR Tables 1-2; protocol: shengliu66/ELR "
_ELR_OPTIM = dict(lr=0.02, momentum=0.9, weight_decay=1e-3)
ELR_C10 = Protocol(
    "ResNet-34", "150 epochs, batch 128, SGD lr 0.02, momentum 0.9, weight decay 1e-3, cosine annealing with warm "
    "restarts (T_0 10, eta_min 0.001), no warm-up; beta 0.7, lambda 3", _ELR + "ELR/config_cifar10.json", R34,
    dict(epochs=150, batch_size=128, optim=_ELR_OPTIM,
         schedule=dict(name="cosine_annealing_warm_restarts", T_0=10, eta_min=0.001)))
ELR_C100 = Protocol(
    "ResNet-34", "150 epochs, batch 128, SGD lr 0.02, momentum 0.9, weight decay 1e-3, x0.01 at epochs 80 and "
    "120 (MultiStepLR), no warm-up; beta 0.9, lambda 7", _ELR + "ELR/config_cifar100.json", R34,
    dict(epochs=150, batch_size=128, optim=_ELR_OPTIM,
         schedule=dict(name="step", warmup=0, milestones=[80, 120], factors=[0.01, 0.0001])))
CUI_LT = Protocol(
    "ResNet-32", "Cui et al.'s: 200 epochs, batch 128, SGD lr 0.1, momentum 0.9, weight decay 2e-4, 5-epoch linear "
    "warm-up, x0.01 at epochs 160 and 180",
    "Cui et al. (CVPR 2019) as quoted in FSR Table 6 (FSR Sec. 5.2 reuses its 200-epoch schedule)", R32,
    dict(epochs=200, batch_size=128, optim=dict(lr=0.1, momentum=0.9, weight_decay=2e-4, nesterov=False),
         schedule=dict(name="step", warmup=5, milestones=[160, 180], factors=[0.01, 0.0001])))
# run_fsr_cifar_longtail.sh / _noise.sh: max_epoch 200, batch_size 128, lr_schedule custom_step with
# decay_epochs 160,180 and decay_rate 0.01 (basemodel.py: no warm-up in that branch); weight decay
# 5e-4 (nets/cifar_resnetv1.py flag default, not overridden); use_ema default True (0.999)
FSR_LT_SETTINGS = dict(epochs=200, batch_size=128, optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
                       schedule=dict(name="step", warmup=0, milestones=[160, 180], factors=[0.01, 0.0001]),
                       ema_decay=0.999)
FSR_LT = Protocol(
    "ResNet-32", "FSR's reference: 200 epochs, batch 128, SGD lr 0.1, momentum 0.9, weight decay 5e-4 on all "
    "variables, no warm-up, x0.01 at epochs 160 and 180, EMA 0.999 of the weights evaluated",
    f"FSR paper Table 6 (rows FSR, FSR-DF; 3 runs averaged); {IEG}scripts/run_fsr_cifar_longtail.sh, "
    "nets/cifar_resnetv1.py (weight_decay), models/basemodel.py (custom_step)", R32, FSR_LT_SETTINGS)
# MW-Net's class-imbalance script (xjtushujun/Meta-weight-net_class-imbalance,
# meta-weight-net-class-imbalance.py): --epochs 100, --batch-size 100, --lr 0.1, --momentum 0.9,
# --nesterov True, --weight-decay 5e-4, adjust_learning_rate(optimizer, epoch + 1) x0.1 at 80 and
# 90, i.e. from the 0-based epochs 79 and 89; no warm-up, no EMA; it prints the best epoch's accuracy.
MWNET_LT_SETTINGS = dict(epochs=100, batch_size=100, ema_decay=None,
                         optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
                         schedule=dict(name="step", warmup=0, milestones=[79, 89], factors=[0.1, 0.01]))
MWNET_LT = Protocol(
    "ResNet-32", "MW-Net's class-imbalance protocol: 100 epochs, batch 100, SGD lr 0.1, momentum 0.9, Nesterov, "
    "weight decay 5e-4, no warm-up, x0.1 at epochs 80 and 90, no EMA; meta set 10 images per class drawn "
    "before the long tail",
    "MW-Net's long-tailed CIFAR table (Shu et al., NeurIPS 2019; not read: its poster's table is an image) as "
    "quoted in FSR Table 6 (rows L2R and MWN, marked there as using 10 images per class as reward set); "
    "protocol: xjtushujun/Meta-weight-net_class-imbalance meta-weight-net-class-imbalance.py defaults", R32,
    MWNET_LT_SETTINGS, "best epoch")
FSR_MIXED = Protocol(
    "ResNet-32", FSR_LT.schedule, f"FSR paper Table 7; {IEG}scripts/run_fsr_cifar_longtail_noise.sh (its "
    "network resnet32; the paper's text does not state it)", R32, FSR_LT_SETTINGS)
FSR_WEBVISION = Protocol(
    "ResNet-50", "ResNet-50 v2 (pre-activation, nets/resnet50.py), random initialisation; 123,300 steps of a "
    "global batch 128 (16 per GPU on 8 GPUs), SGD lr 0.1, momentum 0.9, weight decay 1e-4, cosine with restarts "
    "(first period one epoch, t_mul 2, m_mul 0.9) after a 3-epoch linear warm-up, EMA 0.999 of the weights "
    "evaluated (the paper says 128 epochs; epochs not compared: the run is the script's 123,300 steps, "
    "123,300 / (N // 128) epochs of N training images, and the reference's N is not verified)",
    f"FSR paper Table 5; {IEG}scripts/run_fsr_webvision.sh, models/basemodel.py calibrate_flags", "resnet50",
    dict(batch_size=128, optim=dict(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False), ema_decay=0.999,
         schedule=dict(name="cosine_restarts", warmup=3, first=1, mult=2, decay=0.9)))
FSR_ABLATION = Protocol(
    "not stated", "not stated (Sec. 5.4); 91.4 at 20% noise is nearer Table 1's FSR-R32 (91.8) than its WRN "
    "row (95.1): an inference, not a fact", "FSR paper Figure 6 (MixUp and re-labelling on)")
CIFAR_N_CE = Protocol(
    "ResNet-34", "the CIFAR-N benchmark's cross-entropy run, CE (standard), trained from scratch; its schedule "
    "is not verified here",
    "Wei et al. (ICLR 2022), CE (standard): CIFAR-10N aggre via KlemenVovk/noisy-labels "
    "rescience/tables/comparison.tex (column Reported); worst and CIFAR-100N via Morales-Brotons et al. "
    "(TMLR 2024) Table 2 (shared/docs/published-cifar-n.md)", R34)


_NOISE = (0.0, 0.2, 0.4, 0.8)
_BAL = (1, 1, 1, 1)
_LT = (200, 50, 10)

PUBLISHED: list[Published] = [
    # uniform label noise, Table 1/2 of the paper
    *_rows("cifar10", WRN, "uniform", _NOISE, _BAL, "FSR", (96.8, 95.1, 93.7, 82.8), "uniform noise table",
           protocol=FSR_NOISE),
    *_rows("cifar10", WRN, "uniform", _NOISE, _BAL, "L2R", (96.1, 90.0, 86.9, 73.0), "uniform noise table",
           protocol=L2R_NOISE),
    *_rows("cifar10", None, "uniform", _NOISE, _BAL, "MWN", (92.0, 90.3, 87.5, None), "uniform noise table",
           protocol=MWN_NOISE),
    *_rows("cifar10", R32, "uniform", _NOISE, _BAL, "FSR", (94.4, 91.8, 90.2, 74.2), "uniform noise table",
           protocol=FSR_NOISE_R32),
    *_rows("cifar100", WRN, "uniform", _NOISE, _BAL, "FSR", (81.6, 78.7, 74.2, 46.7), "uniform noise table",
           protocol=FSR_NOISE),
    *_rows("cifar100", WRN, "uniform", _NOISE, _BAL, "L2R", (81.2, 67.1, 61.3, 35.1), "uniform noise table",
           protocol=L2R_NOISE),
    *_rows("cifar100", None, "uniform", _NOISE, _BAL, "MWN", (70.1, 64.2, 58.6, None), "uniform noise table",
           protocol=MWN_NOISE),
    *_rows("cifar100", R32, "uniform", _NOISE, _BAL, "FSR", (71.3, 69.8, 65.9, 41.2), "uniform noise table",
           protocol=FSR_NOISE_R32),
    # GCE and ELR as the paper quotes them (its Tables 1-2): ResNet-34, shown beside any network
    *_rows("cifar10", None, "uniform", _NOISE, _BAL, "GCE", (93.5, 89.9, 87.1, 67.9), "uniform noise table",
           protocol=GCE_C10),
    *_rows("cifar10", None, "uniform", _NOISE, _BAL, "ELR", (94.5, 92.1, 91.4, 80.7), "uniform noise table",
           protocol=ELR_C10),
    *_rows("cifar100", None, "uniform", _NOISE, _BAL, "GCE", (81.4, 66.8, 61.8, 47.7), "uniform noise table",
           protocol=GCE_C100),
    *_rows("cifar100", None, "uniform", _NOISE, _BAL, "ELR", (75.2, 74.7, 68.4, 30.2), "uniform noise table",
           protocol=ELR_C100),
    # asymmetric noise
    *_rows("cifar10", WRN, "asym", (0.2, 0.4), (1, 1), "FSR", (95.0, 93.6), "asymmetric noise table",
           protocol=FSR_NOISE),
    *_rows("cifar10", R32, "asym", (0.2, 0.4), (1, 1), "FSR", (91.5, 90.2), "asymmetric noise table",
           protocol=FSR_NOISE_R32),
    *_rows("cifar10", WRN, "asym", (0.2, 0.4), (1, 1), "L2R", (92.4, 90.8), "asymmetric noise table",
           protocol=L2R_NOISE),
    *_rows("cifar10", R32, "asym", (0.2, 0.4), (1, 1), "L2R", (89.2, 84.8), "asymmetric noise table",
           protocol=L2R_NOISE_R32),
    *_rows("cifar10", None, "asym", (0.2, 0.4), (1, 1), "GCE", (89.5, 82.3), "asymmetric noise table",
           protocol=GCE_C10),
    # long tail, ResNet-32, imbalance 200 / 50 / 10
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "SoftMax", (65.68, 74.81, 86.39), "long-tail table", protocol=CUI_LT),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "CB-Best", (68.89, 79.27, 87.49), "long-tail table", protocol=CUI_LT),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "L2R", (66.51, 78.93, 85.19), "long-tail table", protocol=MWNET_LT),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "MWN", (68.91, 80.06, 87.84), "long-tail table", protocol=MWNET_LT),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "FSR-DF", (66.15, 79.78, 88.15), "long-tail table", protocol=FSR_LT),
    *_rows("cifar10", R32, "none", (0, 0, 0), _LT, "FSR", (67.76, 79.17, 87.40), "long-tail table", protocol=FSR_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "SoftMax", (34.84, 43.85, 55.71), "long-tail table", protocol=CUI_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "CB-Best", (36.23, 45.32, 57.99), "long-tail table", protocol=CUI_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "L2R", (33.38, 44.44, 53.73), "long-tail table", protocol=MWNET_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "MWN", (37.91, 46.74, 58.46), "long-tail table", protocol=MWNET_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "FSR-DF", (36.74, 44.43, 55.60), "long-tail table", protocol=FSR_LT),
    *_rows("cifar100", R32, "none", (0, 0, 0), _LT, "FSR", (35.44, 42.57, 55.45), "long-tail table", protocol=FSR_LT),
    # mixed (Table 7): long tail then uniform noise, the script's ResNet-32. Its imbalance-1 column
    # (91.8 / 90.2) equals Table 1's FSR-R32 numbers (the noise protocol's, filed above under
    # "uniform noise table"), while our `mixed` suite runs that column under the long-tail + noise
    # script's protocol: not filed here, so it is not shown beside those cells.
    *_rows("cifar10", None, "uniform", (0.2,) * 3, (10, 50, 200), "FSR", (85.7, 77.4, 65.5), "mixed table",
           protocol=FSR_MIXED),
    *_rows("cifar10", None, "uniform", (0.4,) * 3, (10, 50, 200), "FSR", (81.6, 69.8, 49.5), "mixed table",
           protocol=FSR_MIXED),
    # WebVision (first 50 classes), ResNet-50 (Table 5): top-1 and top-5 on WebVision's validation
    # images (test_acc, test_top5) and on ImageNet's validation images of the 50 classes
    # (imagenet_acc, imagenet_top5). Table 5's other rows (F-correction, D2L, Co-teaching,
    # Iterative-CV, MentorNet, CRUST) are methods no suite runs, and a published row is shown
    # beside our row of its method only.
    *[Published("webvision", "resnet50", "none", 0.0, 1, "FSR", v, metric, "webvision table", FSR_WEBVISION)
      for metric, v in (("test_acc", 74.9), ("test_top5", 88.2), ("imagenet_acc", 72.3), ("imagenet_top5", 87.2))],
    # ablation (Figure 6), CIFAR-10 20% uniform noise, its 2 x 2 grid of MixUp x momentum
    # re-labelling: accuracy, dictionary purity, zero-weight ratio; network not stated (the
    # ablation suite runs ResNet-32: our inference from Table 1's FSR-R32, 91.8 at 20%)
    *[Published("cifar10", None, "uniform", 0.2, 1, row, v, metric, "ablation", FSR_ABLATION)
      for row, values in {"FSR": (91.4, 97.1, 33.7), "FSR w/o MixUp": (87.7, 80.0, 51.3),
                          "FSR w/o re-labelling": (90.1, 90.6, 44.4), "FSR-Raw": (86.3, 77.6, 55.1)}.items()
      for metric, v in zip(("test_acc", "dict_purity", "zero_weight_ratio"), values)],
    # CIFAR-N (Wei et al., ICLR 2022), cross-entropy on the human label sets verified so far; the
    # random label sets (rand1-3) are not verified and stay empty
    *(Published(data, None, "human", math.nan, 1, "SoftMax", v, "test_acc", "cifar-n table", CIFAR_N_CE,
                corruption=f"human:{name}")
      for data, name, v in (("cifar10", "aggre", 87.77), ("cifar10", "worst", 77.69), ("cifar100", "noisy", 55.50))),
]

#: paper Figure 4: cost over plain softmax training, as (low, high) percent increase
PUBLISHED_COST = {
    "FSR": {"step_time": (47, 87), "peak_mem": (1.9, 34)},
    "L2R": {"step_time": (319, 443), "peak_mem": (54, 270)},
}

def lookup(dataset, model, noise_type, noise_ratio, imbalance_ratio, method, metric="test_acc",
           sources=None, corruption=None):
    """The published entry for this setting, preferring an exact network match; or None. An
    entry of one ``corruption`` (a human label set) matches that corruption only."""
    best = None
    for p in PUBLISHED:
        same = (p.corruption == corruption if p.corruption else
                p.noise_type == noise_type and abs(p.noise_ratio - noise_ratio) < 1e-9
                and abs(p.imbalance_ratio - imbalance_ratio) < 1e-9)
        if (p.dataset == dataset and p.method == method and p.metric == metric and same
                and (sources is None or p.source in sources)):
            if p.model == model:
                return p
            if p.model is None:
                best = best or p
    return best
