"""Corruption specs and functions, reward splits and prepare(): the definitions of methods.md."""
import sys

import numpy as np
import pytest
import torch

import datasets
from datasets.cifar import CIFAR10_ASYM, CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR100_COARSE, superclass_cycle
from datasets.corruptions import HUMAN_LABELS, Corruption, Spec, SpecError, corrupt, long_tail_counts, parse
from datasets.prepare import plan, prepare, reward_split, stratified_subset


def cifar_sized_labels(per_class=5000, classes=10, seed=0):
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(classes), per_class))


# --- specs -------------------------------------------------------------------------------------

def test_parse_canonical_form_and_order():
    assert str(parse("uniform:0.2+lt:50")) == "lt:50+uniform:0.2"
    assert parse(" LT:50 + uniform:0.2 ") == parse("lt:50.0+uniform:0.2")
    assert str(parse("clean")) == "clean" and parse("") == parse("none")
    s = parse("lt:100+asym:0.4")
    assert (s.noise_type, s.noise_ratio, s.imbalance_ratio) == ("asym", 0.4, 100.0)
    assert (parse("lt:10").noise_type, parse("lt:10").noise_ratio) == ("none", 0.0)
    assert parse("sym:0.3").imbalance_ratio == 1.0


@pytest.mark.parametrize("bad", ["noise:0.2", "uniform", "uniform:x", "uniform:1.5", "sym:-0.1",
                                 "lt:0.5", "lt:inf", "uniform:nan", "uniform:0.2+sym:0.2", "lt:10+lt:20"])
def test_parse_rejects(bad):
    with pytest.raises(SpecError):
        parse(bad)


def test_a_canonical_string_parses_back_to_itself():
    """str(spec) is the trial's corruption: every spec reads back from it as the same spec, so two
    rates never become one trial (uniform:0.1234567 is not 0.123457) and a large ratio is not cut
    at its exponent's + (lt:1e+06)."""
    rng = np.random.default_rng(0)
    rates = [0.0, 1.0, 0.2, 0.1234567, 0.1234568, 2 / 3, 1 - 1e-16, 1e-5, 1e-300, 5e-324, *rng.random(200)]
    ratios = [1.0, 1.5, 50.0, 200.0, 1e6, 1234567.0, 1e15, 1e16 + 2, 1e300, sys.float_info.max,
              *np.exp(rng.uniform(0, 700, 200))]
    specs = [Spec((Corruption(k, float(r)),)) for k in ("uniform", "sym", "asym", "idn") for r in rates]
    specs += [Spec((Corruption("lt", float(i)),)) for i in ratios]
    specs += [Spec((Corruption("lt", float(i)), Corruption(k, float(r))))
              for i in ratios for r in rates[::10] for k in ("uniform", "sym")]
    specs += [Spec((Corruption("lt", float(i)), Corruption("human", h))) for i in ratios[:5] for h in HUMAN_LABELS]
    for spec in specs:
        text = str(spec)
        assert parse(text) == spec and str(parse(text)) == text, text
    assert len({str(s) for s in specs}) == len(set(specs))           # distinct specs, distinct strings
    assert str(parse("uniform:-0")) == "uniform:0"                   # one zero, one trial
    assert str(parse("lt:1000000+uniform:0.1234567")) == "lt:1e+06+uniform:0.1234567"


def test_every_way_of_writing_a_value_reads_back_from_its_canonical_string():
    """What a user types (integers, decimals, exponents, 1e6 or 1000000) parses to a spec whose
    canonical string parses back to the same spec and string: a seeded loop over many values of
    each kind, alone and joined by ``+``."""
    rng = np.random.default_rng(22)
    ints = [1, 2, 10, 50, 200, 1000, 10**6, 10**7 + 1, 123456789, 10**15, 10**16 + 2, 10**20,
            *rng.integers(1, 10**12, 100).tolist()]
    reals = [1.0, 1.5, 12.5, 1e6, 1e300, *np.exp(rng.uniform(0, 200, 100)).tolist()]
    ratios = [f"{i}" for i in ints] + [f"{i}.0" for i in ints[:20]] + [f"{r!r}" for r in reals] + \
             [f"{r:e}" for r in reals] + [f"{r:E}" for r in reals[:20]] + ["1e6", "1e+06", "1E6", "1000000", "2e1"]
    rates = ["0", "1", "0.1", "0.2", "0.25", ".5", "1e-1", "5e-324", "1e-300", "0.1234567", "1.0",
             *[repr(float(r)) for r in rng.random(100)], *[f"{r:.3e}" for r in rng.random(50)],
             *[repr(float(r)) for r in rng.random(50) * 10.0 ** -rng.integers(1, 300, 50)]]
    cases = [[("lt", v)] for v in ratios] + [[(k, v)] for k in ("uniform", "sym", "asym", "idn") for v in rates]
    cases += [[("lt", a), (k, b)] for a, b in zip(ratios, rates) for k in ("uniform", "asym")]
    cases += [[(k, b), ("lt", a)] for a, b in zip(ratios[::7], rates[::5]) for k in ("sym", "idn")]
    for parts in cases:
        text = "+".join(f"{k}:{v}" for k, v in parts)
        spec = parse(text)
        canonical = str(spec)
        assert parse(canonical) == spec and str(parse(canonical)) == canonical, (text, canonical)
        assert {p.kind: p.value for p in spec.parts} == {k: float(v) for k, v in parts}, text   # the number typed


def test_the_suites_corruptions_keep_their_canonical_strings():
    """Trial ids hash the corruption's string: the suites' own specs are their canonical strings
    (and those of round numbers keep the 6-digit form they always had)."""
    from bench.sweep import suites

    for suite in suites.SUITES.values():
        for profile in suites.PROFILES:
            for text in suites.resolve(suite.corruptions, profile):
                assert str(parse(text)) == text
    assert [str(parse(t)) for t in ("uniform:0.20", "lt:200.0", "sym:1e-05", "lt:12345678")] == \
        ["uniform:0.2", "lt:200", "sym:1e-05", "lt:12345678"]


# --- long tail ---------------------------------------------------------------------------------

def test_lt100_cifar10_profile_exact():
    y = cifar_sized_labels()
    c = corrupt(y, 10, "lt:100", seed=3)
    expected = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tail_counts(5000, 10, 100) == expected
    assert np.bincount(c.true, minlength=10).tolist() == expected
    assert np.bincount(c.observed, minlength=10).tolist() == expected
    assert len(c.kept) == 12406 and c.realized_noise == 0.0
    assert np.array_equal(y[c.kept], c.true) and np.all(np.diff(c.kept) > 0)


def test_lt_subset_is_seeded():
    y = cifar_sized_labels(500)
    a, b, other = (corrupt(y, 10, "lt:10", seed=s).kept for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, other)


def test_mixed_long_tail_first_then_noise():
    y = cifar_sized_labels(1000)
    c = corrupt(y, 10, "uniform:0.5+lt:20", seed=4)  # order in the string does not matter
    assert np.array_equal(c.kept, corrupt(y, 10, "lt:20+uniform:0.5", seed=4).kept)
    # the profile holds for the true labels, exactly: noise came after the tail
    assert np.bincount(c.true, minlength=10).tolist() == long_tail_counts(1000, 10, 20)
    assert abs(c.realized_noise - 0.5 * 9 / 10) < 0.03
    # observed labels are spread by the noise: the tail classes gain samples
    assert np.bincount(c.observed, minlength=10)[-1] > long_tail_counts(1000, 10, 20)[-1]


# --- label noise -------------------------------------------------------------------------------

@pytest.mark.parametrize("r", [0.2, 0.4, 0.8])
def test_uniform_realised_rate(r):
    y = cifar_sized_labels()
    c = corrupt(y, 10, f"uniform:{r}", seed=0)
    assert abs(c.realized_noise - r * 9 / 10) < 0.01
    assert np.array_equal(c.clean, c.observed == y)


def test_uniform_includes_true_class_sym_excludes_it():
    y = cifar_sized_labels()
    u = corrupt(y, 10, "uniform:1.0", seed=0)
    s = corrupt(y, 10, "sym:1.0", seed=0)
    assert abs(u.realized_noise - 0.9) < 0.01          # a tenth of the redraws hit the true class
    assert s.realized_noise == 1.0                     # never the true class
    # sym spreads the wrong labels evenly over the 9 other classes
    wrong = s.observed[y == 3]
    share = np.bincount(wrong, minlength=10) / len(wrong)
    assert share[3] == 0 and np.all(np.abs(np.delete(share, 3) - 1 / 9) < 0.02)
    assert abs(corrupt(y, 10, "sym:0.4", seed=1).realized_noise - 0.4) < 0.01


def test_same_seed_same_labels_other_seed_different_and_pure():
    y = cifar_sized_labels(100)
    y.setflags(write=False)
    before = y.copy()
    a, b, c = (corrupt(y, 10, "uniform:0.4", seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.observed, b.observed)
    assert not np.array_equal(a.observed, c.observed)
    assert np.array_equal(y, before)


def test_a_new_kind_changes_no_label_of_the_others(monkeypatch):
    """A kind's stream has its own fixed id (KINDS), not its place in the list: a kind added at
    the front (the place that once shifted every other kind's stream) changes no label."""
    from datasets import corruptions
    y = cifar_sized_labels(50)
    x = np.random.default_rng(0).standard_normal((len(y), 8))
    specs = ["uniform:0.4", "sym:0.3", "asym:0.2", "lt:10", "lt:10+uniform:0.4", "lt:5+sym:0.2", "idn:0.3"]
    before = [corrupt(y, 10, s, seed=3, features=x) for s in specs]
    assert len(set(corruptions.KINDS.values())) == len(corruptions.KINDS)   # one id, one kind
    monkeypatch.setattr(corruptions, "KINDS", {"newkind": max(corruptions.KINDS.values()) + 1, **corruptions.KINDS})
    assert list(corruptions.KINDS)[0] == "newkind" and parse("newkind:0.1").parts[0].kind == "newkind"
    for spec, old in zip(specs, before):
        new = corrupt(y, 10, spec, seed=3, features=x)
        assert np.array_equal(new.kept, old.kept) and np.array_equal(new.observed, old.observed), spec


def test_asym_cifar10_class_by_class():
    names = CIFAR10_CLASSES
    expected = {"truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}
    y = np.arange(10)
    c = corrupt(y, 10, "asym:1.0", seed=0, asym_target=CIFAR10_ASYM)
    for i, name in enumerate(names):
        assert names[c.observed[i]] == expected.get(name, name), name
    # at ratio r each moving class flips at about r, the others never
    y = cifar_sized_labels(2000)
    c = corrupt(y, 10, "asym:0.4", seed=0, asym_target=CIFAR10_ASYM)
    for i, name in enumerate(names):
        rate = np.mean(c.observed[y == i] != i)
        assert (abs(rate - 0.4) < 0.035) if name in expected else rate == 0, name
    assert abs(c.realized_noise - 0.4 * 5 / 10) < 0.01


def test_asym_cifar100_cycles_within_superclass():
    target = superclass_cycle(CIFAR100_COARSE)
    c = corrupt(np.arange(100), 100, "asym:1.0", seed=0, asym_target=target)
    name = lambda i: CIFAR100_CLASSES[i]
    pairs = {name(i): name(j) for i, j in enumerate(c.observed)}
    assert pairs["beaver"] == "dolphin" and pairs["whale"] == "beaver"
    assert pairs["apple"] == "mushroom" and pairs["sweet_pepper"] == "apple"
    assert pairs["maple_tree"] == "oak_tree" and pairs["willow_tree"] == "maple_tree"
    for f in range(100):
        assert c.observed[f] != f and CIFAR100_COARSE[c.observed[f]] == CIFAR100_COARSE[f]
        g = f
        for _ in range(5):
            g = target[g]
        assert g == f  # a cycle of the superclass's 5 members


def test_asym_default_next_class():
    c = corrupt(np.arange(7), 7, "asym:1.0", seed=0)
    assert c.observed.tolist() == [1, 2, 3, 4, 5, 6, 0]


# --- reward split and prepare ------------------------------------------------------------------

def toy_dataset(per_class=60, classes=5):
    y = torch.as_tensor(cifar_sized_labels(per_class, classes), dtype=torch.int64)
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1, 1)  # x encodes the row index
    yt = torch.arange(classes).repeat(4)
    return datasets.Dataset("toy", x, y, torch.full((len(yt), 1, 1), -1.0), yt, classes)


def test_reward_split_clean_balanced_disjoint():
    ds = toy_dataset()
    p = prepare(ds, "uniform:1.0", seed=2, reward_per_class=7)
    assert torch.bincount(p.y_reward, minlength=5).tolist() == [7] * 5      # balanced
    assert torch.equal(p.y_reward, ds.y_train[p.reward_index])              # clean (true labels)
    assert torch.equal(p.x_reward.view(-1).long(), p.reward_index)
    assert not set(p.reward_index.tolist()) & set(p.train_index.tolist())   # disjoint
    assert len(p.reward_index) + len(p.train_index) == len(ds.y_train)
    assert torch.equal(p.x_train.view(-1).long(), p.train_index)
    assert torch.equal(p.y_true, ds.y_train[p.train_index])
    assert p.realized_noise > 0.6 and torch.equal(p.clean_mask, p.y_train == p.y_true)
    # the split does not depend on the corruption: every method trains on the same samples
    assert torch.equal(p.reward_index, prepare(ds, "clean", seed=2, reward_per_class=7).reward_index)
    with pytest.raises(datasets.DatasetError):
        reward_split(ds.y_train.numpy(), 5, 60, seed=0)


def test_test_set_never_touched():
    ds = toy_dataset()
    for spec in ("uniform:1.0", "asym:1.0", "lt:10+sym:0.8"):
        p = prepare(ds, spec, seed=1, reward_per_class=3)
        assert p.x_test is ds.x_test and p.y_test is ds.y_test
        assert p.y_test.tolist() == torch.arange(5).repeat(4).tolist()


def test_train_limit_is_stratified_and_seeded():
    y = np.repeat(np.arange(4), [400, 200, 100, 100])
    idx = stratified_subset(y, 80, seed=0)
    assert len(idx) == 80 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx], minlength=4).tolist() == [40, 20, 10, 10]
    assert np.array_equal(idx, stratified_subset(y, 80, seed=0))
    assert not np.array_equal(idx, stratified_subset(y, 80, seed=1))
    p = plan(y, 4, "clean", seed=0, reward_per_class=2, train_limit=80)
    assert len(p.train) + len(p.reward) == 80 and set(p.reward) <= set(idx)
