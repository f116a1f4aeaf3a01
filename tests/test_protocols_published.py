"""Every published number carries its protocol (network, schedule, source), the reference
protocols written out here by hand, and the report built from fake ``ok`` rows for every paper
trial: each published row shows its network and how its protocol stands to our nearest row's,
with its schedule and source in the table's notes; MWN's long-tail number sits beside a row run
under MW-Net's own protocol, and the CIFAR-N cross-entropy numbers beside our softmax rows."""
from __future__ import annotations

import re

import pytest

import reports
from bench.sweep import runner, store, suites
from reports import paper
from reports.protocols import Protocol, differences, status

FAKE = dict(test_acc=0.5, best_acc=0.6, raw_best_acc=0.6, dict_purity=0.9, zero_weight_ratio=0.3, weight_auroc=0.8,
            many_acc=0.7, medium_acc=0.5, few_acc=0.2, step_time_s=0.01, peak_mem_mb=100.0, num_reward=50,
            status="ok")
STATUS = (r"(same protocol as \S+|as \S+ where compared|differs from \S+ in [^;()]+"
          r"|(differs from \S+ in network; )?protocol not verified)")

# xjtushujun/Meta-weight-net_class-imbalance, meta-weight-net-class-imbalance.py: --epochs 100,
# --batch-size 100, --lr 0.1, --momentum 0.9, --nesterov True, --weight-decay 5e-4,
# adjust_learning_rate(optimizer, epoch + 1): x0.1 at 80 and 90 (0-based epochs 79 and 89), no EMA
MWNET_LT = dict(epochs=100, batch_size=100, ema_decay=None,
                optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
                schedule=dict(name="step", warmup=0, milestones=[79, 89], factors=[0.1, 0.01]))
# AlanChou/Truncated-Loss main.py (--lr 0.01, --decay 1e-4, --batch-size 128, momentum 0.9) and
# README (CIFAR-10: --epochs 120 --schedule 40 80; CIFAR-100: --epochs 150 --schedule 80 120), gamma 0.1
GCE = {n: dict(epochs=n, batch_size=128, ema_decay=None, optim=dict(lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=False),
               schedule=dict(name="step", warmup=0, milestones=m, factors=[0.1, 0.01]))
       for n, m in ((120, [40, 80]), (150, [80, 120]))}
# shengliu66/ELR ELR/config_cifar10.json / config_cifar100.json: 150 epochs, batch 128, lr 0.02,
# momentum 0.9, weight decay 1e-3; CIFAR-10 CosineAnnealingWarmRestarts(T_0 10, eta_min 0.001),
# CIFAR-100 MultiStepLR([80, 120], gamma 0.01)
ELR_OPTIM = dict(lr=0.02, momentum=0.9, weight_decay=1e-3)
# google-research ieg/scripts/run_fsr_cifar_longtail.sh (max_epoch 200, batch_size 128, custom_step,
# decay_epochs 160,180, decay_rate 0.01), nets/cifar_resnetv1.py (weight_decay 5e-4), basemodel.py (no
# warm-up in custom_step, EMA 0.999)
FSR_LT = dict(epochs=200, batch_size=128, ema_decay=0.999, optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
              schedule=dict(name="step", warmup=0, milestones=[160, 180], factors=[0.01, 0.0001]))


def test_every_published_number_carries_its_protocol():
    for p in paper.PUBLISHED:
        assert isinstance(p.protocol, Protocol), p
        assert p.protocol.network and p.protocol.schedule and p.protocol.source, p
        assert p.protocol.reported in ("last epoch", "best epoch", "epoch not stated"), p


def test_the_reference_protocols_as_written_by_hand():
    by = lambda method, dataset="cifar10", table="uniform noise table": {
        p.protocol for p in paper.PUBLISHED if (p.method, p.dataset, p.source) == (method, dataset, table)}
    for method in ("L2R", "MWN"):
        for data in ("cifar10", "cifar100"):
            (proto,) = by(method, data, "long-tail table")
            assert (proto.model, proto.settings, proto.reported) == ("resnet32", MWNET_LT, "best epoch")
            assert "Meta-weight-net_class-imbalance" in proto.source
    (g10,), (g100,) = by("GCE"), by("GCE", "cifar100")
    assert (g10.model, g10.settings, g100.settings) == ("resnet34", GCE[120], GCE[150])
    assert by("GCE", table="asymmetric noise table") == {g10}
    (e10,), (e100,) = by("ELR"), by("ELR", "cifar100")
    assert e10.model == e100.model == "resnet34"
    assert e10.settings == dict(epochs=150, batch_size=128, optim=ELR_OPTIM,
                                schedule=dict(name="cosine_annealing_warm_restarts", T_0=10, eta_min=0.001))
    assert e100.settings == dict(epochs=150, batch_size=128, optim=ELR_OPTIM,
                                 schedule=dict(name="step", warmup=0, milestones=[80, 120], factors=[0.01, 0.0001]))
    assert {p.settings == FSR_LT for p in by("FSR", "cifar10", "long-tail table") | by("FSR-DF", "cifar100", "long-tail table")} == {True}
    # MW-Net's noise rows: which of its tables FSR quotes is not verified; the network is not guessed
    for data in ("cifar10", "cifar100"):
        (mwn,) = by("MWN", data)
        assert mwn.network == "not verified (WRN-28-10 uniform table or ResNet-32 flip table of MW-Net)"
        assert mwn.model is None and mwn.settings is None
        assert all(p.model is None for p in paper.PUBLISHED if p.protocol is mwn)


def test_the_mwnet_row_runs_mwnet_s_own_class_imbalance_protocol():
    trials = [t for t in suites.expand(suites.SUITES["long_tail"], "paper") if t["variant"] == "mwn-mwnet"]
    assert {t["dataset"] for t in trials} == {"cifar10", "cifar100"} and len(trials) == 2 * 3 * 3
    for t in trials:
        assert {k: t[k] for k in MWNET_LT} == MWNET_LT
        assert (t["model"], t["method"], t["reward_per_class"]) == ("resnet32", "mwn", 10)
        assert t["hparams"] == dict(wnet_optim="sgd", wnet_lr=1e-5, wnet_weight_decay=5e-4, wnet_nesterov=True,
                                    normalize=True)
    assert suites.SUITES["long_tail"].declaration().paper_rows["mwn-mwnet"] == "MWN"
    for profile in ("smoke", "quick"):                          # a paper-profile row only
        assert not any(t["variant"] == "mwn-mwnet" for t in suites.expand(suites.SUITES["long_tail"], profile))


def test_a_protocol_compares_only_what_it_states():
    full = Protocol("ResNet-32", "s", "src", "resnet32", FSR_LT)
    assert differences(full, "resnet32", FSR_LT) == [] and status(full, "resnet32", "fsr", FSR_LT) == "same protocol as fsr"
    ours = dict(FSR_LT, optim=dict(FSR_LT["optim"], weight_decay=2e-4), schedule=dict(FSR_LT["schedule"], warmup=5))
    assert differences(full, "wrn28_10", ours) == ["network", "weight decay", "schedule"]
    partial = Protocol("ResNet-32", "s", "src", "resnet32", dict(batch_size=128))
    assert status(partial, "resnet32", "fsr", ours) == "as fsr where compared"
    unknown = Protocol("ResNet-34", "s", "src", "resnet34")
    assert status(unknown, "wrn28_10", "softmax", ours) == "differs from softmax in network; protocol not verified"


@pytest.fixture(scope="module")
def report_md(tmp_path_factory):
    out = tmp_path_factory.mktemp("res")
    declared = suites.report_declarations()
    for name, suite in suites.SUITES.items():
        if declared[name].paper_tables:
            for t in suites.expand(suite, "paper", seeds=1):
                store.append_row(out, runner.make_row(t, FAKE))
    md = reports.build_report(out, suites=declared, plots=False).read_text()
    return {s.split("\n", 1)[0]: s for s in md.split("\n## ")}, declared


def _section(report_md, suite):
    sections, declared = report_md
    return sections[declared[suite].title]


def test_every_published_row_shows_its_network_and_how_its_protocol_stands_to_ours(report_md):
    sections, declared = report_md
    seen = 0
    for name, decl in declared.items():
        if not decl.paper_tables:
            continue
        text = sections[decl.title]
        rows = re.findall(r"^\| ([^|]+) \(published, ([^|]+)\)(?:, noise [\d.]+)? \|", text, re.M)
        for pm, inside in rows:
            if inside.startswith("ablation"):
                continue
            seen += 1
            assert re.fullmatch(rf"[^;]+?(, best epoch)?; {STATUS}", inside), (name, pm, inside)
            # its schedule and source in full below the table
            assert re.search(rf"^{re.escape(pm)} \(published[^)]*\): network .+; source: .+ Ours \(", text, re.M), (name, pm)
    assert seen >= 30


def test_rows_of_other_protocols_are_marked_in_the_row(report_md):
    text = _section(report_md, "label_noise")
    for pm, ours in (("GCE", "gce"), ("ELR", "elr")):
        assert re.search(rf"^\| {pm} \(published, ResNet-34; differs from {ours} in network, epochs, batch, lr, "
                         r"weight decay, schedule[^|]*\) \| \*", text, re.M), pm
    assert text.count("| MWN (published, not verified (WRN-28-10 uniform table or ResNet-32 flip table of MW-Net), "
                      "best epoch; protocol not verified) |") == 2              # CIFAR-10 and CIFAR-100
    assert "GCE (published): network ResNet-34; 120 epochs" in text and "AlanChou/Truncated-Loss" in text


def test_mwn_s_long_tail_number_sits_beside_the_mwnet_protocol_row(report_md):
    lines = _section(report_md, "long_tail").splitlines()
    published = "| MWN (published, ResNet-32, best epoch; same protocol as mwn-mwnet) |"
    at = [i for i, ln in enumerate(lines) if ln.startswith(published)]
    assert len(at) == 2 and all(lines[i - 1].startswith("| mwn-mwnet |") for i in at)
    assert lines[at[0]].endswith("| *68.91* | *80.06* | *87.84* |") and lines[at[1]].endswith("| *37.91* | *46.74* | *58.46* |")
    note = next(ln for ln in lines if ln.startswith("MWN (published): network ResNet-32"))
    assert "accuracy reported: best epoch" in note and "Meta-weight-net_class-imbalance" in note
    assert "Our best epoch's accuracy (mwn-mwnet, best_acc): 200: 60.00, 50: 60.00, 10: 60.00." in note


def test_cifar_n_cross_entropy_sits_beside_our_softmax_rows(report_md):
    lines = _section(report_md, "human_noise").splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| method \\ corruption | human:aggre"))
    assert lines[head] == "| method \\ corruption | human:aggre | human:rand1 | human:rand2 | human:rand3 | human:worst |"
    name = "SoftMax (published, ResNet-34; differs from softmax in network; protocol not verified)"
    i = lines.index(f"| {name} | *87.77* | — | — | — | *77.69* |")          # random label sets: empty
    assert lines[i - 1].startswith("| softmax |")
    j = lines.index(f"| {name} | *55.50* |")
    assert lines[j - 1].startswith("| softmax |") and "human:noisy" in lines[j - 3]
    note = next(ln for ln in lines if ln.startswith("SoftMax (published): network ResNet-34"))
    assert "Wei et al. (ICLR 2022)" in note and "KlemenVovk/noisy-labels" in note and "Morales-Brotons" in note
