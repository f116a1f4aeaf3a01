"""Long tail (paper Table 6) and long tail + noise (Table 7) against the reference scripts, written
out here by hand with the file and flag each value comes from, compared with every expanded
trial of the ``long_tail`` and ``mixed`` suites; the long tail's class counts per row; Table 7's
imbalance-1 column. google-research/google-research ``ieg/`` unless told otherwise."""
from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.sweep import checks, runner, suites
from bench import cli
from bench.sweep.checks import UsageError
from datasets.corruptions import long_tail_counts, parse
from datasets.prepare import plan
from methods import METHODS
from reports import paper

# FSR's rows, both long-tail scripts (scripts/run_fsr_cifar_longtail.sh, run_fsr_cifar_longtail_noise.sh)
FSR_OPTIM = dict(lr=0.1,               # options.py `learning_rate` default (the scripts do not set it)
                 momentum=0.9,         # options.py `momentum`; basemodel.py tf.train.MomentumOptimizer
                 nesterov=False,       #   (no Nesterov)
                 weight_decay=5e-4)    # nets/cifar_resnetv1.py `weight_decay` default (not passed)
FSR_SCHEDULE = dict(name="step",
                    warmup=0,                  # basemodel.py set_lr_schedule: custom_step has no warm-up
                    milestones=[160, 180],     # scripts `-decay_epochs='160,180'`
                    factors=[0.01, 0.0001])    # scripts `--decay_rate=0.01`, once per decay epoch
SCRIPT = dict(model="resnet32",        # scripts `--network_name=resnet32`
              batch_size=128,          # scripts `--batch_size=128` (one GPU)
              epochs=200)              # scripts `--max_epoch=200`
FSR_E = 20             # non-deferred FSR: no script sets it; options.py `meta_start_epoch` default
FSR_DF_E = 160         # run_fsr_cifar_longtail.sh `--meta_start_epoch=160` (the first decay)
LT_SCRIPT = dict(dictionary_size=3000,      # run_fsr_cifar_longtail.sh `--queue_capacity=3000`
                 reward_batch=800,          # `--queue_bs=800`
                 label_smoothing=0.1,       # `--label_smoothing=0.1`
                 mixup=False,               # `--use_mixup=False`
                 relabel=False,             # `--use_pseudo_loss=''`
                 weight_rule="shift")       # `--clip_meta_weight=False`
MIXED_SCRIPT = dict(dictionary_size=2000,   # run_fsr_cifar_longtail_noise.sh `--queue_capacity=2000`
                    reward_batch=200,       # `--queue_bs=200`
                    label_smoothing=0.1,    # `--label_smoothing=0.1`
                    mixup=True,             # options.py `use_mixup` default (not set)
                    relabel=True,           # options.py `use_pseudo_loss` default 'all_1_0.1_2': p = 2
                    relabel_weight=2.0,
                    weight_rule="clip",     # `--clip_meta_weight=True`
                    reweight_start=160)     # `--meta_start_epoch=160`
# softmax and CB rows: Cui et al. (CVPR 2019), whose numbers the paper quotes: 200 epochs, lr 0.1,
# x0.01 at 160 and 180, a 5-epoch linear warm-up, weight decay 2e-4
CUI_OPTIM = dict(FSR_OPTIM, weight_decay=2e-4)
CUI_SCHEDULE = dict(FSR_SCHEDULE, warmup=5)
# L2R and MWN: 10 clean images per class (Table 6 footnote), as Meta-weight-net_class-imbalance
# draws them (`--num_meta 10` per class, before the long tail)
REWARD_PER_CLASS = {"l2r": 10, "mwn": 10}
FSR_ROWS = ("fsr", "fsr_df")


def trials(suite, profile="paper"):
    out = suites.expand(suites.SUITES[suite], profile)
    assert out
    return out


def hp(t):
    return {**METHODS[t["method"]].defaults, **t["hparams"]}


def test_long_tail_rows_run_their_own_protocol():
    """Table 6: FSR and FSR-DF on the script's ResNet-32 weight decay and warm-up-free schedule;
    softmax, CB, L2R and MWN on Cui et al.'s."""
    for t in trials("long_tail"):
        if t["variant"] == "mwn-mwnet":   # MW-Net's own protocol (tests/test_protocols_published.py)
            continue
        assert {k: t[k] for k in SCRIPT} == SCRIPT
        fsr = t["method"] in FSR_ROWS
        assert t["optim"] == (FSR_OPTIM if fsr else CUI_OPTIM), t["variant"]
        assert t["schedule"] == (FSR_SCHEDULE if fsr else CUI_SCHEDULE), t["variant"]
        assert t["reward_per_class"] == REWARD_PER_CLASS.get(t["method"], 0), t["variant"]
        if fsr:
            h = hp(t)
            assert {k: h[k] for k in LT_SCRIPT} == LT_SCRIPT
            assert h["reweight_start"] == (FSR_E if t["method"] == "fsr" else "lr_decay")
            assert first_active_epoch(t) == (FSR_E if t["method"] == "fsr" else FSR_DF_E)


def first_active_epoch(t):
    """The first epoch FSR re-weights in, on the trial's own schedule (one step per epoch)."""
    from bench.trial.schedules import make_schedule
    from methods import StepInfo

    lr = make_schedule(t["schedule"], t["optim"]["lr"])
    m = SimpleNamespace(hp=hp(t), max_lr=0.0, active_from_decay=False)
    active = [METHODS[t["method"]]._active(m, StepInfo(e, 0, lr(e), t["epochs"], 1)) for e in range(t["epochs"])]
    assert all(active[active.index(True):])
    return active.index(True)


def test_mixed_rows_run_the_long_tail_noise_script():
    """Table 7: every row on the script's protocol (softmax: FSR's baseline, like for like)."""
    for t in trials("mixed"):
        assert {k: t[k] for k in SCRIPT} == SCRIPT
        assert (t["optim"], t["schedule"], t["reward_per_class"]) == (FSR_OPTIM, FSR_SCHEDULE, 0), t["variant"]
        if t["method"] == "fsr":
            h = hp(t)
            assert {k: h[k] for k in MIXED_SCRIPT} == MIXED_SCRIPT


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_small_profiles_keep_the_per_row_protocol(profile):
    """At their scale: FSR's rows take 5e-4 and no warm-up on the profile's milestones; the
    other long-tail rows keep 2e-4 and the profile's warm-up; FSR's E is 20 / 200 of the run."""
    from bench.sweep.profiles import BASE, resolve

    for suite in ("long_tail", "mixed"):
        base = resolve(BASE["long_tail"], profile)["schedule"]
        for t in trials(suite, profile):
            fsr = t["method"] in FSR_ROWS or suite == "mixed"
            assert t["optim"]["weight_decay"] == (5e-4 if fsr else 2e-4), (suite, t["variant"])
            assert t["schedule"] == dict(base, warmup=0 if fsr else base["warmup"]), (suite, t["variant"])
            if suite == "long_tail" and t["method"] == "fsr" and profile == "quick":
                assert hp(t)["reweight_start"] == FSR_E * t["epochs"] // SCRIPT["epochs"]


def test_dry_run_shows_each_rows_protocol(tmp_path, capsys):
    argv = ["run", "--suite", "long_tail", "--profile", "paper", "--dry-run", "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    protocol = {(t["variant"], t["optim"]["weight_decay"], t["schedule"]["warmup"]) for t in shown}
    assert ("fsr", 5e-4, 0) in protocol and ("fsr_df", 5e-4, 0) in protocol
    assert ("softmax", 2e-4, 5) in protocol and ("cb-softmax-0.9999", 2e-4, 5) in protocol
    assert not any(v in ("fsr", "fsr_df") and (wd, w) != (5e-4, 0) for v, wd, w in protocol)


@pytest.mark.parametrize("num_classes", [10, 100])
def test_long_tail_counts_per_row(num_classes):
    """On a CIFAR-sized label vector: the rows without a reward set see the reference's counts
    (from all 5,000 / 500 per class); L2R and MWN hold out 10 per class from the balanced set
    first, and their long tail's counts start from the remaining 4,990 / 490."""
    n = 50000 // num_classes
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(num_classes), n))
    rows = {t["method"]: t for t in suites.expand(suites.SUITES["long_tail"], "paper", seeds=1,
                                                  dataset=f"cifar{num_classes}")}
    assert set(rows) == {"softmax", "cb", "l2r", "mwn", "fsr", "fsr_df"}
    for imb in (200, 50, 10):
        for method, t in rows.items():
            p = plan(y, num_classes, f"lt:{imb}", 0, t["reward_per_class"], t["train_limit"])
            counts = np.bincount(p.corrupted.true, minlength=num_classes).tolist()
            k = REWARD_PER_CLASS.get(method, 0)
            assert counts == long_tail_counts(n - k, num_classes, imb), (method, imb)
            assert np.bincount(y[p.reward], minlength=num_classes).tolist() == [k] * num_classes
            assert not np.intersect1d(p.reward, p.train).size
    assert long_tail_counts(5000, 10, 200)[-1] == 25 and long_tail_counts(4990, 10, 200)[-1] == 24


def test_uniform_noise_plans_are_unchanged():
    """Under noise without a long tail nothing moved: the planned indices and labels of these
    plans are those of the code before the long-tail change (hashes taken there)."""
    y = np.random.default_rng(123).permutation(np.repeat(np.arange(10), 5000))
    want = {("uniform:0.4", 100, None): "56dbe79a87667def", ("uniform:0.2", 20, 4000): "7894b39cf6a41318",
            ("uniform:0.8", 0, None): "bdd53393a60f4259"}
    for (corruption, k, limit), digest in want.items():
        p = plan(y, 10, corruption, seed=2, reward_per_class=k, train_limit=limit)
        parts = (p.reward, p.train, p.corrupted.observed)
        got = hashlib.sha1(b"".join(np.ascontiguousarray(a, dtype=np.int64).tobytes() for a in parts)).hexdigest()
        assert got[:16] == digest, corruption


def test_the_data_check_reads_each_rows_reward_set():
    """A long tail that keeps every class for the rows without a reward set but empties one for
    a row that holds one out first is refused (the check once read only the first row's)."""
    y = torch.arange(2).repeat_interleave(20)                    # 20 per class; lt:20 keeps 20 and 1
    ds = SimpleNamespace(name="tiny", y_train=y, num_classes=2, asym_target=None, input_shape=(1, 4),
                         x_train=torch.zeros(40, 1, 4))
    row = dict(corruption="lt:20", model="mlp", train_limit=None)
    checks.check_data_fits([dict(row, reward_per_class=0)], ds)
    with pytest.raises(UsageError, match="lt:20 on tiny leaves class"):   # 19 and int(19 / 20) = 0
        checks.check_data_fits([dict(row, reward_per_class=0), dict(row, reward_per_class=1)], ds)


def test_table7_imbalance_one_is_not_shown_beside_the_long_tail_noise_protocol(tmp_path):
    """Table 7's imbalance-1 column equals Table 1's FSR-R32 numbers (the noise protocol's):
    filed only there, so the ``mixed`` suite's imbalance-1 cells, run under the long-tail + noise
    script, show no published number; the long-tailed cells still do."""
    import reports
    from bench.sweep import store

    r32 = {r: paper.lookup("cifar10", "resnet32", "uniform", r, 1, "FSR", sources={"uniform noise table"})
           for r in (0.2, 0.4)}
    assert (r32[0.2].value, r32[0.4].value, r32[0.2].model) == (91.8, 90.2, "resnet32")
    for t in trials("mixed"):
        spec = parse(t["corruption"])
        got = paper.lookup("cifar10", "resnet32", "uniform", spec.noise_ratio, spec.imbalance_ratio, "FSR",
                           sources={"mixed table"})
        assert (got is None) == (spec.imbalance_ratio == 1), (t["corruption"], got)
    for t in suites.expand(suites.SUITES["mixed"], "paper", seeds=1):
        store.append_row(tmp_path, runner.make_row(t, {"test_acc": 0.5, "best_acc": 0.5, "status": "ok"}))
    md = reports.build_report(tmp_path, suites=suites.report_declarations()).read_text()
    published = [line for line in md.splitlines() if line.startswith("| FSR (published")]
    assert published and all(line.split("|")[2].strip() == "—" for line in published)   # column imbalance 1
    assert "91.80" not in md and "90.20" not in md and "85.70" in md
