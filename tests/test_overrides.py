"""--set KEY=VALUE: settings and hyper-parameters chosen on the command line, checked before
anything runs, recorded in the trials' configs (their own ids, their own report cells)."""
from __future__ import annotations

import json
import re

import pytest
import torch

import reports
from bench.sweep import overrides, runner, store, suites
from bench.sweep.checks import UsageError
from bench.cli import main
from bench.trial.models import build_model
from methods._tangent import Recorder


def test_values_are_json_and_checked():
    sets = overrides.parse_sets(["epochs=5", "optim.lr=0.05", "fsr.mixup=false", "train_limit=null",
                                 "fsr.pusher=aum", "model=small_cnn_fast"], ["softmax", "fsr"])
    assert sets == {"epochs": 5, "fsr.mixup": False, "fsr.pusher": "aum", "model": "small_cnn_fast",
                    "optim.lr": 0.05, "train_limit": None}


@pytest.mark.parametrize("item,needle", [
    ("epochs=0", "expected an integer >= 1"), ("epochs=2.5", "expected an integer >= 1"),
    ("optim.momentum=1.5", "expected a number in [0, 1)"), ("model=resnet9", "expected one of small_cnn"),
    ("fsr.nope=1", "fsr has no hyper-parameter 'nope'"), ("mwn.normalise=true", "is now called 'normalize'"),
    ("fsr.lam=0.5", "fsr's 'lam' is now called 'score_momentum'"), ("elr.beta=0.9", "is now called 'target_momentum'"),
    ("fsr.mixup=3", "expected true or false"), ("l2r.reward_batch=10", "l2r is not in this run"),
    ("bogus=1", "unknown key 'bogus'"), ("epochs", "expects KEY=VALUE"),
])
def test_a_bad_choice_is_one_line(item, needle):
    with pytest.raises(UsageError, match=re.escape(needle)):
        overrides.parse_sets([item], ["softmax", "fsr"])


def test_cli_refuses_a_bad_choice_before_anything_runs(tmp_path, capsys):
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--set", "batch_size=-1",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--set batch_size" in err[0] and not (tmp_path / "r").exists()


def _dry(capsys, *extra):
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--corruptions", "uniform:0.4",
                 "--dry-run", *extra]) == 0
    return {t["method"]: t for t in map(json.loads, capsys.readouterr().out.splitlines())}


def test_choices_reach_the_configs_and_only_where_they_apply(capsys):
    plain = _dry(capsys)
    chosen = _dry(capsys, "--set", "fsr.dictionary_size=300", "--set", "optim.lr=0.05")
    assert chosen["fsr"]["hparams"]["dictionary_size"] == 300 and chosen["fsr"]["optim"]["lr"] == 0.05
    assert chosen["fsr"]["set"] == {"fsr.dictionary_size": 300, "optim.lr": 0.05}
    assert chosen["softmax"]["set"] == {"optim.lr": 0.05} and "dictionary_size" not in chosen["softmax"]["hparams"]
    assert all(chosen[m]["trial_id"] != plain[m]["trial_id"] for m in plain)
    only_fsr = _dry(capsys, "--set", "fsr.dictionary_size=300")
    assert only_fsr["softmax"]["trial_id"] == plain["softmax"]["trial_id"]   # another method's choice: same trial
    assert only_fsr["fsr"]["trial_id"] != plain["fsr"]["trial_id"]


def test_chosen_trials_never_share_a_cell_with_the_defaults(tmp_path):
    suite = suites.SUITES["label_noise"]
    for sets in ({}, {"epochs": 3}):
        for t in suites.expand(suite, "smoke", methods=["softmax"], seeds=1, sets=sets):
            store.append_row(tmp_path, runner.make_row(t, {"test_acc": 0.5, "status": "ok"}))
    md = reports.build_report(tmp_path, suites=suites.report_declarations(), plots=False).read_text()
    assert md.count("| softmax [cfg ") >= 2   # two rows, each named by its configuration
    rows = store.read_rows(tmp_path)
    sets = [json.loads(r["extra"]).get("set") if r["extra"] else None for r in rows]
    assert sets == [None] * (len(rows) // 2) + [{"epochs": 3}] * (len(rows) // 2)   # the row says what was chosen


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_the_fast_small_cnn_takes_28_to_32_pixel_images_and_the_tangent_pass(shape):
    model = build_model("small_cnn_fast", shape, 10)
    assert model(torch.randn(4, *shape)).shape == (4, 10)
    assert sum(p.numel() for p in model.parameters()) < 30_000
    Recorder(model)   # every operation has a tangent rule
