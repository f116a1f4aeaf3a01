"""The paper profile against the paper's Table 4 and the reference scripts, written out here
by hand (google-research ieg/scripts/run_fsr_cifar_*.sh; xjtushujun/meta-weight-net), so a
change of a suite's settings that drifts from the published protocol fails; the dry run; and
the report finding the published number of every paper-profile entry that has one."""
from __future__ import annotations

import json

import pytest
import torch

from bench import cli
from bench.sweep import runner, suites

DECLARED = suites.report_declarations()
from bench.trial.models import build_model
from methods import METHODS, Context

# Table 4 (top) and the scripts: |R|, q, B, lam, alpha (look-ahead step), beta (history weight of
# the logit EMA), p (re-labelling weight); None where the setting has no such term.
TABLE4 = {
    "noise": dict(R=2000, q=200, B=100, lam=0.9, alpha=0.1, beta=0.1, p=2.0),
    "long_tail": dict(R=3000, q=800, B=128, lam=0.9, alpha=0.1, beta=None, p=None),   # scripts: B = 128
    "mixed": dict(R=2000, q=200, B=128, lam=0.9, alpha=0.1, beta=0.1, p=2.0),         # script: 2000 (Table 4: 3k)
}


def paper_trials(suite, method=None, variant=None):
    out = [t for t in suites.expand(suites.SUITES[suite], "paper")
           if (method is None or t["method"] == method) and (variant is None or t["variant"] == variant)]
    assert out, (suite, method, variant)
    return out


def fsr_hparams(t):
    cls = METHODS[t["method"]]
    return {**cls.defaults, **t["hparams"]}


@pytest.mark.parametrize("suite,setting,method", [("label_noise", "noise", "fsr"), ("asym_noise", "noise", "fsr"),
                                                  ("long_tail", "long_tail", "fsr"),
                                                  ("long_tail", "long_tail", "fsr_df"), ("mixed", "mixed", "fsr")])
def test_fsr_paper_settings_are_table4(suite, setting, method):
    want = TABLE4[setting]
    for t in paper_trials(suite, method, method):
        hp = fsr_hparams(t)
        assert (hp["dictionary_size"], hp["reward_batch"], t["batch_size"]) == (want["R"], want["q"], want["B"])
        assert (hp["score_momentum"], hp["alpha"]) == (want["lam"], want["alpha"])
        assert hp["dictionary_max_fraction"] == 1.0           # no cap may shrink |R|
        if want["p"] is None:
            assert not hp["relabel"] and not hp["mixup"]
            assert hp["weight_rule"] == "shift" and hp["label_smoothing"] == 0.1
        else:
            assert hp["relabel"] and hp["mixup"]
            assert (hp["relabel_history"], hp["relabel_weight"]) == (want["beta"], want["p"])
        assert (hp["margin"], hp["reward_bn"], hp["reward_augment"], hp["meta_weight_decay"]) == \
            ("reference", "batch", True, True)


def test_dictionary_is_exactly_table4_on_long_tailed_cifar10():
    """|R| = 3k on CIFAR-10 at imbalance 100 (12,406 samples): 300 per class, not 10% of n."""
    t = paper_trials("long_tail", "fsr", "fsr")[0]
    n, C = 12406, 10
    y = torch.arange(n) % C
    ctx = Context(num_classes=C, class_counts=torch.bincount(y), num_train=n, epochs=1, steps_per_epoch=1,
                  batch_size=128, train_x=torch.zeros(n, 1, 4), train_y=y)
    m = METHODS["fsr"](build_model("mlp", (1, 4), C), ctx, **t["hparams"])
    assert m.dictionary.indices.shape == (C, 300)


def test_paper_schedules_and_reward_sets():
    for t in paper_trials("label_noise") + paper_trials("asym_noise"):
        assert (t["model"], t["epochs"], t["schedule"]["name"], t["ema_decay"]) == ("wrn28_10", 127, "cosine_restarts", 0.999)
        assert t["reward_total"] == 1000                       # MW-Net's num_meta
    assert {t["dataset"] for t in paper_trials("label_noise")} == {"cifar10", "cifar100"}
    assert {t["dataset"] for t in paper_trials("asym_noise")} == {"cifar10", "cifar100"}
    for t in paper_trials("long_tail"):   # each row's protocol and reward set: tests/test_protocols_longtail.py
        if t["variant"] == "mwn-mwnet":   # MW-Net's own protocol (tests/test_protocols_published.py)
            continue
        assert (t["model"], t["epochs"], t["batch_size"], t["ema_decay"]) == ("resnet32", 200, 128, 0.999)
        assert t["schedule"]["milestones"] == [160, 180] and t["schedule"]["factors"] == [0.01, 0.0001]
    for t in paper_trials("mixed"):                            # run_fsr_cifar_longtail_noise.sh
        assert (t["model"], t["epochs"], t["batch_size"]) == ("resnet32", 200, 128)
        assert t["schedule"]["milestones"] == [160, 180] and t["schedule"]["factors"] == [0.01, 0.0001]
        hp = fsr_hparams(t) if t["method"] == "fsr" else t["hparams"]
        assert hp["label_smoothing"] == 0.1
        if t["method"] == "fsr":
            assert hp["reweight_start"] == 160 and hp["weight_rule"] == "clip"


def test_mwn_long_tail_is_the_class_imbalance_script():
    for t in paper_trials("long_tail", "mwn"):
        assert t["hparams"] == dict(wnet_optim="sgd", wnet_lr=1e-5, wnet_weight_decay=5e-4, wnet_nesterov=True,
                                    normalize=True)
        assert METHODS["mwn"].defaults["wnet_momentum"] == 0.9


def test_missing_experiments_exist():
    abl = {t["variant"]: fsr_hparams(t) for t in paper_trials("ablation", "fsr")}
    assert {(v, h["mixup"], h["relabel"]) for v, h in abl.items()} == {
        ("fsr", True, True), ("fsr-no_mixup", False, True), ("fsr-no_relabel", True, False), ("fsr-raw", False, False)}
    assert {t["corruption"] for t in paper_trials("ablation")} == {"uniform:0.2"}
    raw = paper_trials("reward_size", "fsr")
    assert {t["variant"] for t in raw if not fsr_hparams(t)["mixup"] and not fsr_hparams(t)["relabel"]} == \
        {f"fsr-raw-R{k}" for k in suites.REWARD_SIZES}
    sens = paper_trials("sensitivity")
    assert {(t["dataset"], t["corruption"]) for t in sens} == {("cifar100", "uniform:0.4")}
    swept = {t["variant"].split("=")[0] for t in sens if "=" in t["variant"]}
    assert swept == {f"fsr-{k}" for k in suites.SENSITIVITY}
    for t in sens:                                             # one at a time: every other value at its default
        if "=" in t["variant"]:
            key = t["variant"][4:].split("=")[0]
            hp = fsr_hparams(t)
            assert all(hp[k] == suites.resolve(suites.SENSITIVITY_BASE[k], "paper")
                       for k in suites.SENSITIVITY if k != key)


def test_dry_run_prints_every_trial_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "res"
    assert cli.main(["run", "--suite", "label_noise", "--profile", "paper", "--dry-run", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    trials = [json.loads(line) for line in lines]
    assert len(trials) == 168 and len({t["trial_id"] for t in trials}) == 168   # 2 sets x 4 noises x 7 methods x 3 seeds
    assert {t["dataset"] for t in trials} == {"cifar10", "cifar100"}      # no data needed for a dry run
    assert not out.exists()


def test_report_finds_every_published_number(tmp_path):
    """Fake ok rows for every paper-profile trial; the report shows each published row."""
    import reports

    expected = {"label_noise": ["FSR", "L2R", "MWN"], "asym_noise": ["FSR", "L2R"],
                "long_tail": ["SoftMax", "CB-Best", "L2R", "MWN", "FSR-DF", "FSR"], "mixed": ["FSR"],
                "ablation": ["FSR"]}
    from bench.sweep import store
    for suite in expected:
        for t in suites.expand(suites.SUITES[suite], "paper", seeds=1):
            store.append_row(tmp_path, {**runner.make_row(t, {"test_acc": 0.5, "best_acc": 0.5, "dict_purity": 0.9,
                                                               "zero_weight_ratio": 0.3, "status": "ok"})})
    md = reports.build_report(tmp_path, suites=DECLARED).read_text()
    sections = md.split("\n## ")
    for suite, names in expected.items():
        text = next(s for s in sections if s.startswith(DECLARED[suite].title))
        for name in names:
            assert f"{name} (published" in text, (suite, name)

