"""Honest report cells: rows pool only trials of one configuration (all but the seed), device
type and code version; an ok row beats a failed one of the same trial id; a seed seen twice is
said; small-n confidence intervals are t intervals."""
from __future__ import annotations

import math

import pytest

import reports
from bench.sweep import runner, store, suites

DECLARED = suites.report_declarations()
from reports.stats import summarize


def _row(out, hparams, seed=0, acc=0.5, status="ok", **over):
    cfg = dict(suite="label_noise", profile="quick", dataset="mnist1d", model="small_cnn", method="fsr",
               variant="fsr", corruption="uniform:0.4", seed=seed, epochs=31, hparams=hparams)
    cfg["trial_id"] = suites.trial_id(cfg)
    row = runner.make_row(cfg, {"test_acc": acc, "best_acc": acc, "status": status, "device": "cpu"})
    row.update(over)
    store.append_row(out, row)
    return row


def _cells(out):
    df, agg = reports.prepare(out)
    return agg[agg["suite"] == "label_noise"]


def test_unlike_hyper_parameters_never_share_a_cell(tmp_path):
    """Before: a seed-0 row with other hparams beside an existing one showed as 63.87 ± 36.95 (n=2)."""
    _row(tmp_path, {"reweight_start": 20}, acc=0.90)
    _row(tmp_path, {"reweight_start": 5}, acc=0.3774)
    agg = _cells(tmp_path)
    assert len(agg) == 2 and (agg["test_acc_n"] == 1).all()
    labels = sorted(agg["label"])
    assert all(lab.startswith("fsr [cfg ") for lab in labels) and labels[0] != labels[1]
    md = reports.build_report(tmp_path, suites=DECLARED).read_text()
    assert "n=2" not in md and "63.87" not in md


def test_device_type_and_code_version_split_cells(tmp_path):
    _row(tmp_path, {}, seed=0)
    _row(tmp_path, {}, seed=1, device="NVIDIA H100 80GB HBM3")
    _row(tmp_path, {}, seed=2, code_version="0.1.0+0123456789ab")
    assert len(_cells(tmp_path)) == 3


def test_same_configuration_pools_across_seeds(tmp_path):
    for seed in range(3):
        _row(tmp_path, {"reweight_start": 20}, seed=seed, acc=0.9 + seed / 100)
    agg = _cells(tmp_path)
    assert len(agg) == 1 and int(agg["test_acc_n"].iloc[0]) == 3 and agg["label"].iloc[0] == "fsr"


def test_an_ok_row_beats_a_later_failed_row_of_the_same_trial(tmp_path):
    """Before: two sweeps on one store appended the same trial; the report kept the last row, so a
    failed duplicate hid an ok one."""
    ok = _row(tmp_path, {}, acc=0.8)
    _row(tmp_path, {}, status="failed", acc=float("nan"), error="RuntimeError: boom")
    agg = _cells(tmp_path)
    assert int(agg["n_ok"].iloc[0]) == 1 and agg["test_acc_mean"].iloc[0] == pytest.approx(0.8)
    assert store.finished_ids(tmp_path) == {ok["trial_id"]}


def test_a_seed_seen_twice_is_said(tmp_path):
    # rows of a store written before config_id existed: same seed, different trial ids
    _row(tmp_path, {"a": 1}, config_id="", acc=0.5)
    _row(tmp_path, {"a": 2}, config_id="", acc=0.6)
    agg = _cells(tmp_path)
    assert agg["dup_seeds"].iloc[0] == "0"
    assert "seed 0 twice" in reports.build_report(tmp_path, suites=DECLARED).read_text()


def test_small_samples_get_t_intervals_not_a_bootstrap_over_two_values():
    s = summarize([0.5, 0.6])
    half = 12.706204736174707 * s["std"] / math.sqrt(2)      # t(0.975, 1)
    assert s["ci_low"] == pytest.approx(0.55 - half) and s["ci_high"] == pytest.approx(0.55 + half)
    assert s["ci_high"] - s["ci_low"] > 0.5                   # the bootstrap gave [0.5, 0.6]
    big = summarize([0.5, 0.6, 0.7, 0.8])                     # n >= 4: bootstrap, inside the range
    assert 0.5 <= big["ci_low"] < big["ci_high"] <= 0.8
