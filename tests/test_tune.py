"""bench tune: search spaces, selection rules, bad input, the "tuned" report table and one
end-to-end search on the smoke profile (run, then --resume: nothing tried or run twice)."""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest

import reports
from bench import cli
from bench.sweep import runner, store, suites, tune
from bench.sweep.checks import UsageError
from methods import METHODS, Method
from methods.domains import Int, Real
from methods.spaces import IntRange, LogUniform, Pick, Uniform, check_space, sample


@pytest.mark.parametrize("name", list(METHODS))
def test_every_space_samples_values_the_method_accepts(name):
    cls = METHODS[name]
    check_space(cls, name)
    rng = np.random.default_rng(1)
    for _ in range(50):
        values = sample(cls.search_space, rng)
        hp = cls.check_hparams(values, name)   # in its domains and together (FSR: q <= |R|)
        assert all(cls.domain(k).contains(v) for k, v in hp.items())
    assert set(tune.space_of(name, cls)) >= {"optim.lr", "optim.weight_decay"}


class Mine(Method):
    defaults = {"k": 3, "rate": 0.5}
    domains = {"rate": Real(0, 1)}


@pytest.mark.parametrize("space, why", [
    ({"nope": Uniform(0, 1)}, "not a hyper-parameter"),
    ({"rate": Uniform(0.5, 2.0)}, "out of range"),
    ({"k": Uniform(1, 5)}, "is an integer"),              # undeclared domain: the default's type
    ({"rate": LogUniform(0, 1)}, "not a search range"),
    ({"rate": (0, 1)}, "not a search range"),
])
def test_a_bad_space_is_refused_in_one_line(space, why):
    cls = type("Bad", (Mine,), {"search_space": space})
    with pytest.raises(UsageError, match=why) as e:
        tune.space_of("bad", cls)
    assert "\n" not in str(e.value)
    tune.space_of("ok", type("Ok", (Mine,), {"search_space": {"k": IntRange(1, 5), "rate": Pick(0.1, 0.9)}}))


def test_bench_list_shows_the_spaces(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "optim.lr log-uniform [0.01, 0.3]" in out and "gce      q uniform [0.1, 0.9]" in out


def test_configurations_are_seeded_and_a_larger_budget_extends_a_smaller():
    cls = METHODS["fsr"]
    assert tune.configurations("fsr", cls, 3) == tune.configurations("fsr", cls, 5)[:3]
    assert tune.configurations("fsr", cls, 2) != tune.configurations("gce", METHODS["gce"], 2)


def test_the_first_configuration_is_the_defaults_and_the_rest_are_drawn():
    configs = tune.configurations("elr", METHODS["elr"], 4)
    assert configs[0] == {} and len(configs) == 4 and tune.configurations("elr", METHODS["elr"], 1) == [{}]
    assert all(set(c) == {"optim.lr", "optim.weight_decay", "elr.target_momentum", "elr.reg_weight"} for c in configs[1:])


def test_asha_first_rung_is_a_third_of_the_run():
    pytest.importorskip("ray")
    s = tune.asha("noisy-val", 31)
    assert sorted(r for r, _ in s._brackets[0]._rungs) == [10, 30] and s._max_t == 31 and s._metric == "val_acc"


def _o(status, epochs_run, val, test):
    return dict(trial_id="x", status=status, set={"v": val}, epochs_run=epochs_run, val_acc=val, test_acc=test)


def test_rules_pick_the_right_configuration():
    outs = [_o("ok", 10, 0.60, 0.90),       # best on clean test labels
            _o("ok", 10, 0.70, 0.80),       # best on the noisy validation split
            _o("stopped", 3, 0.95, 0.95),   # stopped early by ASHA: fewer epochs lose
            _o("failed", 0, math.nan, math.nan)]
    assert tune.select(outs, "noisy-val")["val_acc"] == 0.70
    assert tune.select(outs, "oracle")["test_acc"] == 0.90
    assert tune.select([_o("ok", 10, 0.5, 0.5), _o("ok", 10, 0.5, 0.6)], "noisy-val")["test_acc"] == 0.5  # tie: first drawn
    assert tune.select(outs[3:], "oracle") is None
    assert tune.cost(outs) == 23


def test_a_stopped_search_trial_is_a_row_with_its_epochs(tmp_path):
    [cfg] = tune.search_trials(suites.SUITES["label_noise"], "smoke", "softmax", METHODS["softmax"], "uniform:0.4", 1)
    cb = runner.StoreCallback(tmp_path, 1)
    cb.scheduler_stops = True
    trial = types.SimpleNamespace(config={"trial": cfg}, trial_id="t", last_result={"epoch": 1, "val_acc": 0.4, "test_acc": 0.5})
    cb.on_trial_complete(0, [], trial)
    [o] = [tune.outcome(r) for r in store.read_rows(tmp_path)]
    assert (o["status"], o["epochs_run"], o["val_acc"], o["test_acc"]) == ("stopped", 1, 0.4, 0.5)


@pytest.mark.parametrize("argv, msg", [
    (["--budget", "0"], "--budget must be at least 1"),
    (["--budget", "2", "--methods", "nope"], "unknown method 'nope'"),
    (["--budget", "2", "--rule", "test"], "invalid choice"),
    (["--budget", "2", "--corruptions", "uniform:7"], ""),
    (["--budget", "2", "--profile", "huge"], "unknown profile"),
    (["--budget", "2", "--methods", "gce", "--set", "optim.lr=0.05"], "--set optim.lr: a searched hyper-parameter"),
    (["--budget", "2", "--set", "bogus=1"], "unknown key 'bogus'"),
    (["--budget", "2", "--dataset", "folder", "--data-root", "/nowhere/at/all"], "/nowhere/at/all"),
])
def test_bad_input_is_one_line_and_exit_2(argv, msg, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["tune", "--suite", "label_noise", "--profile", "smoke", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and msg in err and not out.exists()


def test_fixed_settings_reach_every_configuration_of_a_search():
    """--set in a tune run: the same in every configuration, recorded with the drawn values."""
    suite = suites.SUITES["label_noise"]
    trials = tune.search_trials(suite, "smoke", "gce", METHODS["gce"], "uniform:0.4", 3, {"epochs": 1, "model": "mlp"})
    assert len(trials) == 3 and all(t["epochs"] == 1 and t["model"] == "mlp" for t in trials)
    assert all(t["set"]["epochs"] == 1 and t["set"]["val_fraction"] == 0.1 for t in trials)
    assert "gce.q" not in trials[0]["set"] and "gce.q" in trials[1]["set"]   # the defaults first, then draws


def _fake(out, variant, corruption, acc, cost=None, seeds=2, method=None):
    for seed in range(seeds):
        cfg = dict(suite="label_noise", profile="quick", dataset="mnist1d", model="small_cnn",
                   method=method or variant.partition("@")[0], variant=variant, corruption=corruption, seed=seed,
                   epochs=31, hparams={})
        if cost is not None:
            cfg["tuning"] = dict(rule=variant.partition("@")[2], budget=16, cost_epochs=cost)
        cfg["trial_id"] = suites.trial_id(cfg)
        store.append_row(out, runner.make_row(cfg, {"test_acc": acc + seed / 1000, "best_acc": acc,
                                                    "status": "ok", "device": "cpu"}))


def test_the_report_shows_default_and_both_tuned_columns_and_the_ranking(tmp_path):
    _fake(tmp_path, "softmax", "uniform:0.4", 0.80)
    _fake(tmp_path, "elr", "uniform:0.4", 0.60)
    _fake(tmp_path, "softmax@noisy-val", "uniform:0.4", 0.81, cost=120)
    _fake(tmp_path, "elr@noisy-val", "uniform:0.4", 0.85, cost=140)
    _fake(tmp_path, "elr@oracle", "uniform:0.4", 0.86, cost=150)
    md = reports.build_report(tmp_path, plots=False, suites=suites.report_declarations()).read_text()
    table = md[md.index("Default vs tuned"):]
    assert "| elr | uniform:0.4 | 60.05 ± 0.07 (n=2) | 85.05 ± 0.07 (n=2) | 86.05 ± 0.07 (n=2) | 140 | 150 |" in table
    assert "| softmax | uniform:0.4 | 80.05 ± 0.07 (n=2) | 81.05 ± 0.07 (n=2) | — | 120 | — |" in table
    assert "default softmax > elr; tuned (noisy-val) elr > softmax: CHANGED" in table
    assert "tuned (oracle, reference only) elr: unchanged" in table
    # no tuned rows: no table
    plain = tmp_path / "plain"
    _fake(plain, "softmax", "uniform:0.4", 0.8)
    assert "Default vs tuned" not in reports.build_report(plain, plots=False, suites=suites.report_declarations()).read_text()


def test_tune_end_to_end_on_smoke_and_resume(tmp_path, capsys):
    """Budget 2, softmax, one corruption, 2 epochs: the search's rows in DIR/tune/noisy-val, the
    pick's row with rule, budget and cost; --resume tries and runs nothing again."""
    out = tmp_path / "out"
    argv = ["tune", "--suite", "label_noise", "--profile", "smoke", "--budget", "2", "--methods", "softmax",
            "--corruptions", "uniform:0.4", "--out", str(out)]
    assert cli.main(argv) == 0
    search = store.read_rows(tune.search_dir(out, "noisy-val"))
    assert len(search) == 2 and all(json.loads(r["extra"])["set"]["val_fraction"] == 0.1 for r in search)
    assert all(math.isfinite(tune.outcome(r)["val_acc"]) for r in search)
    [row] = store.read_rows(out)
    extra = json.loads(row["extra"])
    assert row["variant"] == "softmax@noisy-val" and row["status"] == "ok"
    # the cost: every epoch the search ran (ASHA may stop the second configuration at epoch 1, by
    # the order the two report in: 3 or 4)
    spent = tune.cost([tune.outcome(r) for r in search])
    assert spent in (3, 4) and extra["tuning"] == {"rule": "noisy-val", "budget": 2, "cost_epochs": spent}
    assert "val_fraction" not in extra.get("set", {})
    assert cli.main(argv) == 2     # again without --resume: refused
    capsys.readouterr()
    assert cli.main(argv + ["--resume"]) == 0
    assert "0 of 2 configuration(s) to try" in capsys.readouterr().out
    assert len(store.read_rows(tune.search_dir(out, "noisy-val"))) == 2 and len(store.read_rows(out)) == 1


def test_the_validation_split_keeps_its_noisy_labels_and_leaves_training_else_alone():
    import datasets
    import torch

    ds = datasets.load_dataset("mnist1d", None, False)
    a, b = (datasets.prepare(ds, "uniform:0.4", 0, 0, 1000) for _ in range(2))
    x_val, y_val = datasets.hold_out(b, 0.1, 0)
    held = ~torch.isin(a.train_index, b.train_index)
    assert len(y_val) == int(held.sum()) == 100 and len(b.y_train) == len(a.y_train) - 100
    assert torch.equal(y_val, a.y_train[held]) and torch.equal(x_val, a.x_train[held])   # observed labels
    assert (a.y_train[held] != a.y_true[held]).any()                                     # noisy ones among them
    assert torch.equal(b.y_train, a.y_train[~held]) and torch.equal(b.y_true, a.y_true[~held])
