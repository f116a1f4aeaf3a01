"""Every hyper-parameter and trial setting has a declared domain, checked for every trial before
a sweep: a value that would run as something else, or fail every trial, is one line and exit 2;
a value the docs name is accepted."""
from __future__ import annotations

import json
import math
import textwrap
import time

import pytest

from bench import cli
from bench.sweep import suites
from bench.costs.stepper import make_runner
from methods import METHODS

RUN = ["run", "--suite", "label_noise", "--profile", "smoke", "--corruptions", "uniform:0.4"]


@pytest.fixture
def no_sweep(monkeypatch):
    """Should a check let a bad input through, the test fails where the sweep would start."""
    monkeypatch.setattr(cli, "_run_locked", lambda args, trials: pytest.fail("the sweep started"))


def _refused(tmp_path, capsys, *extra) -> str:
    out = tmp_path / "out"
    t0 = time.time()
    assert cli.main([*RUN, *extra, "--out", str(out)]) == 2
    assert time.time() - t0 < 15
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: ")
    assert not out.exists()
    return err


def test_every_builtin_method_declares_every_hyper_parameter():
    for name, cls in METHODS.items():
        assert set(cls.domains) == set(cls.defaults), name
        for key, value in cls.defaults.items():
            assert cls.domains[key].contains(value), f"{name}.{key}={value!r} lies outside {cls.domains[key]}"


def test_the_declarations_accept_every_suites_values():
    from bench.sweep.checks import check_trials

    for suite in suites.SUITES.values():
        for profile in suites.PROFILES:
            check_trials(suites.expand(suite, profile, seeds=1))


@pytest.mark.parametrize("domain,inside,outside", [
    ("Int(1)", [1, 10**9], [0, -5, 2.0, True, math.inf, "3", None, [1]]),
    ("Real(0, 1, hi_open=True)", [0, 0.5, 0.9999], [1, 1.5, -0.1, math.nan, False, {"a": 1}]),
    ("Real(0, lo_open=True)", [1e-9, 7], [0, math.inf, float("1e309")]),
    ('Choice("fc", "all")', ["fc"], [["fc"], {"fc": 1}, "FC", 1]),
    ('Int(0) | Real(0, 1, lo_open=True, hi_open=True) | Choice("lr_decay")', [0, 20, 0.5, "lr_decay"],
     [-1, 1.5, "x"]),
    ("ListOf(Text())", [["a", "b.c"]], [[], ["a", ""], "a", [1]]),
])
def test_a_domain_holds_what_it_says_and_nothing_odd(domain, inside, outside):
    from methods import domains

    domain = eval(domain, vars(domains))   # noqa: S307 (the declarations above, as written in a method)
    assert all(domain.contains(v) for v in inside) and not any(domain.contains(v) for v in outside)


@pytest.mark.parametrize("extra,needle", [
    # item 6: a hyper-parameter that would run as something else
    (["--set", "fsr.dictionary_size=-5"], "fsr.dictionary_size: expected an integer >= 1"),
    (["--set", "fsr.dictionary_size=1e309"], "fsr.dictionary_size: expected an integer >= 1"),
    # item 7: settings that would fail every trial
    (["--channels-last", "on", "--methods", "softmax"], "--channels-last on is for images; mnist1d"),
    (["--methods", "l2r", "--set", "reward_per_class=0"], "l2r needs a clean reward set"),
    (["--methods", "mwn", "--set", "reward_per_class=0"], "mwn needs a clean reward set"),
    (["--set", "optim.nesterov=true", "--set", "optim.momentum=0"], "optim.nesterov=true needs optim.momentum > 0"),
    (["--methods", "mwn", "--set", "mwn.wnet_optim=sgd", "--set", "mwn.wnet_momentum=0"],
     "mwn.wnet_nesterov=true needs mwn.wnet_momentum > 0"),
    (["--set", "softmax.label_smoothing=5"], "softmax.label_smoothing: expected a number in [0, 1]"),
    (["--set", "gce.q=-1"], "gce.q: expected a number in (0, 1]"),
    (["--set", "cb.beta=1.5"], "cb.beta: expected a number in [0, 1)"),
    (["--set", "optim.lr=Infinity"], "optim.lr: expected a finite number > 0"),
    (["--set", "optim.weight_decay=1e309"], "optim.weight_decay: expected a finite number >= 0"),
    # item 12: a value that cannot be hashed
    (["--set", 'model=["small_cnn"]'], "model: expected one of small_cnn"),
    (["--set", 'model={"a":1}'], "model: expected one of small_cnn"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_setting_that_cannot_run_is_refused_before_the_sweep(tmp_path, capsys, no_sweep, extra, needle):
    assert needle in _refused(tmp_path, capsys, *extra)


def test_a_suites_own_value_is_checked_too(tmp_path, capsys, monkeypatch, no_sweep):
    """Not only --set: a suite's, a profile's or a data set's value out of range is refused."""
    suite = suites.SUITES["label_noise"]
    bad = suites.Suite(**{**vars(suite), "entries": [suites.Entry("fsr", {"dictionary_size": suites.ByProfile(smoke=-5)})]})
    monkeypatch.setitem(suites.SUITES, "label_noise", bad)
    err = _refused(tmp_path, capsys)
    assert "fsr.dictionary_size=-5 is out of range: an integer >= 1 (suite label_noise, fsr on mnist1d)" in err


@pytest.mark.parametrize("item,value", [("fsr.reweight_start=lr_decay", "lr_decay"), ("fsr.meta_layers=2", 2),
                                        ("l2r.meta_layers=2", 2), ('l2r.meta_layers=["body.7", "fc"]', ["body.7", "fc"])])
def test_a_value_the_docs_name_is_accepted_and_runs(capsys, item, value):
    assert cli.main([*RUN, "--methods", item.split(".")[0], "--set", item, "--dry-run"]) == 0
    (trial,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    name = item.split("=")[0].split(".")[1]
    assert trial["hparams"][name] == value
    make_runner(dict(method=trial["method"], batch_size=32, hparams=trial["hparams"])).step()


def test_a_method_built_outside_a_sweep_checks_its_hyper_parameters():
    with pytest.raises(ValueError, match=r"fsr\.dictionary_size=-5 is out of range: an integer >= 1"):
        make_runner(dict(method="fsr", batch_size=32, hparams={"dictionary_size": -5}))


OWN = textwrap.dedent('''
    from methods.base import Method
    from methods.domains import Real

    class Declared(Method):
        defaults = {"keep": 0.8, "free": 3}
        domains = {"keep": Real(0, 1, lo_open=True)}   # "free" undeclared: of its default's kind
''')


def test_a_users_method_gets_its_declarations_checked(tmp_path, capsys, monkeypatch, no_sweep):
    (tmp_path / "own_ranges_mod.py").write_text(OWN)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "own_ranges_mod:Declared"
    assert "own_ranges_mod:Declared.keep: expected a number in (0, 1]" in _refused(
        tmp_path, capsys, "--methods", spec, "--set", f"{spec}.keep=0")
    assert "expected a value like its default 3" in _refused(tmp_path, capsys, "--methods", spec, "--set",
                                                             f"{spec}.free=true")
    assert cli.main([*RUN, "--methods", spec, "--set", f"{spec}.free=7.5", "--dry-run"]) == 0
