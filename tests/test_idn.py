"""Instance-dependent noise (idn:R, Xia et al. 2020): its realised rate, its seeding, and that
which label a sample flips to depends on its input (unlike uniform noise)."""
from __future__ import annotations

import numpy as np
import pytest

from datasets.corruptions import corrupt, parse
from datasets.prepare import expected_noise, plan


def _two_clusters(n=6000, C=10, d=20, seed=0):
    """Per class, half the samples near +v and half near -v (v random): two input clusters."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    sign = np.where(np.arange(n) // C % 2 == 0, 1.0, -1.0)
    v = rng.standard_normal(d)
    return y, sign, sign[:, None] * v + 0.1 * rng.standard_normal((n, d))


def _target_distance(y, sign, observed, C):
    """Mean over classes of the total-variation distance between the flip targets of the two clusters."""
    out = []
    for c in range(C):
        hist = []
        for s in (1.0, -1.0):
            flipped = observed[(y == c) & (sign == s) & (observed != y)]
            hist.append(np.bincount(flipped, minlength=C) / max(len(flipped), 1))
        out.append(0.5 * np.abs(hist[0] - hist[1]).sum())
    return float(np.mean(out))


@pytest.mark.parametrize("r", [0.2, 0.4, 0.6])
def test_idn_realised_rate_is_about_r(r):
    y, _, x = _two_clusters()
    c = corrupt(y, 10, f"idn:{r}", seed=3, features=x)
    assert abs(c.realized_noise - r) < 0.03
    assert expected_noise(f"idn:{r}", y, 10) == r


def test_idn_flip_targets_depend_on_the_input_uniform_ones_do_not():
    y, sign, x = _two_clusters()
    idn = corrupt(y, 10, "idn:0.4", seed=1, features=x).observed
    uni = corrupt(y, 10, "sym:0.4", seed=1).observed
    assert _target_distance(y, sign, idn, 10) > 0.8     # the two clusters flip to different classes
    assert _target_distance(y, sign, uni, 10) < 0.25    # sampling noise only


def test_idn_is_seeded_pure_and_needs_the_inputs():
    y, _, x = _two_clusters(n=2000)
    a = corrupt(y, 10, "idn:0.4", seed=5, features=x).observed
    assert np.array_equal(a, corrupt(y, 10, "idn:0.4", seed=5, features=x.copy()).observed)
    assert not np.array_equal(a, corrupt(y, 10, "idn:0.4", seed=6, features=x).observed)
    with pytest.raises(ValueError, match="idn noise needs the inputs"):
        corrupt(y, 10, "idn:0.4", seed=5)


def test_idn_after_a_long_tail_and_in_a_plan():
    assert str(parse("idn:0.2+lt:10")) == "lt:10+idn:0.2"
    y, _, x = _two_clusters()
    p = plan(y, 10, "lt:10+idn:0.3", seed=0, reward_per_class=5, features=x)
    assert p.spec.noise_type == "idn" and p.spec.imbalance_ratio == 10
    assert abs(p.corrupted.realized_noise - 0.3) < 0.05
    assert np.array_equal(p.corrupted.true, y[p.train])


def test_the_run_checks_accept_idn_trials():
    """The pre-run check of every class keeping a sample reads only the long tail (it once
    failed on idn, which needs the inputs)."""
    import datasets
    from bench.sweep import suites
    from bench.sweep.checks import check_data_fits

    trials = suites.expand(suites.Suite(**{**vars(suites.SUITES["label_noise"]), "corruptions": ["lt:5+idn:0.4"]}),
                           "smoke", seeds=1)
    check_data_fits(trials, datasets.load_dataset("mnist1d"))
