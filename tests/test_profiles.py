"""Values by profile and by data set are explicit (bench.sweep.profiles.ByProfile / ByDataset), resolved
by one function for hyper-parameters and settings alike; a plain dict is a value; a profile is
one line of PROFILES."""
from __future__ import annotations

import pytest

from bench.sweep import profiles, suites
from bench.sweep.profiles import OMIT, ByDataset, ByProfile, resolve, resolve_all


def test_a_by_profile_value_takes_the_profiles_value_and_a_plain_dict_stays_a_dict():
    warmup = ByProfile(smoke=1, quick=20, paper=20)
    assert [resolve(warmup, p) for p in ("smoke", "quick", "paper")] == [1, 20, 20]
    schedule = {"smoke": 1, "quick": 2, "paper": 3}   # keys that look like profiles: still one value
    assert resolve(schedule, "quick") is schedule
    optim = {"lr": 0.1}
    assert resolve_all({"optim": optim, "epochs": ByProfile(smoke=2, quick=31, paper=127)}, "smoke") == \
        {"optim": optim, "epochs": 2}


def test_a_by_dataset_value_leaves_the_key_out_on_the_other_data_sets_unless_it_has_a_default():
    beta = ByDataset(cifar100=0.9)
    assert resolve(beta, "paper", "cifar100") == 0.9 and resolve(beta, "paper", "cifar10") is OMIT
    assert resolve_all({"beta": beta, "lam": 3.0}, "paper", "cifar10") == {"lam": 3.0}
    assert resolve(ByDataset(cifar100=0.9, default=0.7), "quick", "mnist1d") == 0.7
    nested = ByProfile(paper=ByDataset(cifar10=1 / 3, cifar100=8 / 15), default=OMIT)   # GCE's prune_start
    assert resolve(nested, "paper", "cifar100") == 8 / 15 and resolve_all({"k": nested}, "quick", "mnist1d") == {}
    with pytest.raises(ValueError, match="unknown data set.*cifar1000"):
        ByDataset(cifar1000=1)
    with pytest.raises(ValueError, match="unknown profile.*papr"):
        ByProfile(papr=1)


def test_a_profile_a_by_profile_does_not_name_is_an_error_naming_the_value_unless_it_has_a_default():
    with pytest.raises(ValueError, match=r"reweight_start: ByProfile\(smoke=1\) has no value for profile 'quick'"):
        resolve_all({"reweight_start": ByProfile(smoke=1)}, "quick")
    assert resolve(ByProfile(smoke=1, default=5), "paper") == 5


def test_a_fourth_profile_is_one_edit_and_expands_every_suite(monkeypatch):
    """A profile that follows "paper" (one line of PROFILES) takes the paper profile's value of
    every ByProfile that does not name it: its trials are the paper profile's, under its name."""
    monkeypatch.setitem(profiles.PROFILES, "paper_rerun", "paper")
    for name, suite in suites.SUITES.items():
        mine = suites.expand(suite, "paper_rerun")
        paper = suites.expand(suite, "paper")
        assert mine, name
        strip = lambda t: {k: v for k, v in t.items() if k not in ("profile", "trial_id")}
        assert [strip(t) for t in mine] == [strip(t) for t in paper], name
        assert all(t["profile"] == "paper_rerun" for t in mine)
        assert not {t["trial_id"] for t in mine} & {t["trial_id"] for t in paper}
    # a value given for the new profile wins over the one it follows
    assert resolve(ByProfile(paper=3, paper_rerun=5), "paper_rerun") == 5


def test_a_fourth_profile_that_follows_none_needs_its_values(monkeypatch):
    """Without a profile to follow, the first ByProfile without a value for it is refused by name."""
    monkeypatch.setitem(profiles.PROFILES, "tiny", None)
    with pytest.raises(ValueError, match=r"ByProfile\(smoke=.*\) has no value for profile 'tiny'"):
        suites.expand(suites.SUITES["label_noise"], "tiny")
