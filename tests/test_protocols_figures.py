"""The paper profile's figure suites against the paper (issue 21, item 4, below) and the
many / medium / few-shot groups by the training classes' true sizes (item 9)."""
from __future__ import annotations

import math

import torch

from bench import harness
from bench.metrics import shot_accuracy


def test_shot_groups_use_the_true_class_sizes():
    """Under 40% uniform noise every class of MNIST-1D at imbalance 50 has > 100 observed labels
    (all many-shot); the true sizes (971 ... 19) split them into many, medium and few. CB keeps
    the observed counts (what a method may know)."""
    cfg = {**harness.DEFAULTS, "dataset": "mnist1d", "model": "small_cnn", "epochs": 1, "batch_size": 128,
           "corruption": "lt:50+uniform:0.4", "device": "cpu"}
    trial = harness.Trial(cfg)
    sums, info = trial.run_epoch(0)
    trial.evaluate_epoch(0, sums, info, 0.0)
    result, data = trial.result(), trial.data
    observed, true = data.class_counts(), torch.bincount(data.y_true, minlength=10)
    assert (observed > 100).all() and (true < 20).any() and ((true >= 20) & (true <= 100)).any()
    assert torch.equal(trial.ctx.class_counts, observed)
    want = shot_accuracy(trial.pred, data.y_test, true)
    assert all(math.isfinite(v) for v in want.values())
    assert {k: result[k] for k in want} == want
