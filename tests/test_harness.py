import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import methods
from bench.trial import schedules
from bench.trial.harness import train
from bench.trial.diagnostics import WeightStats, auroc, shot_accuracy
from bench.trial.models import build_model
from methods.base import Method, per_sample_ce

TINY = dict(dataset="digits", model="small_cnn", epochs=2, batch_size=50, corruption="uniform:0.4",
            schedule=dict(name="cosine_restarts"), timing_warmup_steps=1)


def test_cosine_restarts_periods_double_and_peaks_decay():
    lr = 0.1
    assert schedules.cosine_restarts(lr, 0.0) == pytest.approx(0.1)
    assert schedules.cosine_restarts(lr, 0.5) == pytest.approx(0.05)
    assert schedules.cosine_restarts(lr, 1.0) == pytest.approx(0.09)      # second period starts, peak * 0.9
    assert schedules.cosine_restarts(lr, 2.0) == pytest.approx(0.045)     # middle of the 2-epoch period
    assert schedules.cosine_restarts(lr, 3.0) == pytest.approx(0.081)     # third period: 4 epochs
    assert schedules.cosine_restarts(lr, 6.999) < 1e-4


def test_step_schedule_warms_up_then_decays():
    f = lambda t: schedules.step(0.1, t, warmup=5, milestones=(160, 180), factors=(0.01, 0.0001))
    assert [round(f(e), 6) for e in (0, 0.5, 1, 2.5, 4.99, 5)] == [0.0, 0.01, 0.02, 0.05, 0.0998, 0.1]
    assert f(100) == pytest.approx(0.1) and f(170) == pytest.approx(1e-3) and f(190) == pytest.approx(1e-5)


@pytest.mark.parametrize("name,shape", [("small_cnn", (1, 40)), ("small_cnn", (1, 8, 8)), ("mlp", (1, 40)),
                                        ("resnet32", (3, 32, 32))])
def test_models_expose_features_and_last_linear_layer(name, shape):
    model = build_model(name, shape, 10).eval()
    x = torch.randn(3, *shape)
    assert isinstance(model.fc, torch.nn.Linear)
    assert torch.allclose(model(x), model.fc(model.features(x)))


def test_resnet32_has_the_papers_parameter_count():
    assert sum(p.numel() for p in build_model("resnet32", (3, 32, 32), 10).parameters()) == 464_154


def test_train_is_seeded_and_reports_every_epoch():
    epochs = []
    a = train({**TINY, "method": "softmax"}, report=epochs.append)
    b = train({**TINY, "method": "softmax"})
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert a["test_acc"] == b["test_acc"] and a["realized_noise"] == b["realized_noise"]
    assert 0.25 < a["realized_noise"] < 0.45   # uniform:0.4 over 10 classes: ~0.36
    assert a["best_acc"] >= a["test_acc"] > 0.1
    assert a["step_time_s"] > 0 and a["peak_mem_mb"] > 0
    assert math.isnan(a["zero_weight_ratio"]) and math.isnan(a["dict_purity"])  # softmax has neither
    c = train({**TINY, "method": "softmax", "seed": 1})
    assert c["realized_noise"] != a["realized_noise"]


class _Nan(Method):
    def train_step(self, batch, info):
        return {"loss": float("nan")}


class _Weights(Method):
    """Gives weight 0 to exactly the noisy samples (through a peek at true labels the test provides)."""
    clean = None

    def train_step(self, batch, info):
        loss = per_sample_ce(self.model(batch.x), batch.y).mean()
        self.sgd_step(loss)
        return {"loss": loss.item(), "weights": type(self).clean[batch.idx].float()}

    def on_epoch_end(self, epoch):
        return {"dictionary": torch.nonzero(type(self).clean).flatten()[:20]}


def test_nan_loss_raises_with_its_place(monkeypatch):
    monkeypatch.setitem(methods.METHODS, "nan", _Nan)
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 0, step 0"):
        train({**TINY, "method": "nan"})


class _NanWeights(Method):
    """Leaves NaN in the model's weights and returns nothing (no loss to catch it by)."""

    def train_step(self, batch, info):
        with torch.no_grad():
            self.model.fc.weight.fill_(float("nan"))
        return {}


class _InfOutputs(Method):
    """Finite weights, no step at all, but an infinite output for every test sample."""

    def train_step(self, batch, info):
        return {}

    def predict(self, x):
        return self.model(x) * float("inf")


def _run_in_trainable(monkeypatch, tmp_path, cfg):
    """The final row bench.sweep.runner.trainable reports for ``cfg`` (Tune stood in for: no Ray)."""
    from bench.sweep import runner

    reports = []
    context = SimpleNamespace(get_trial_dir=lambda: str(tmp_path))
    monkeypatch.setattr(runner, "tune", SimpleNamespace(report=reports.append, get_context=lambda: context))
    runner.trainable({"trial": cfg, "threads": torch.get_num_threads()})
    assert reports[-1]["final"]
    return reports[-1]


@pytest.mark.parametrize("method,reason", [(_NanWeights, "non-finite weights in epoch 0: fc.weight"),
                                           (_InfOutputs, "non-finite outputs for 360 of 360 samples")])
def test_non_finite_weights_or_outputs_fail_the_trial_with_the_reason(monkeypatch, tmp_path, method, reason):
    monkeypatch.setitem(methods.METHODS, "broken", method)
    cfg = {**TINY, "method": "broken"}
    with pytest.raises(FloatingPointError, match=reason):
        train(cfg)
    row = _run_in_trainable(monkeypatch, tmp_path, cfg)
    assert row["status"] == "failed" and reason in row["error"] and "test_acc" not in row


def test_weight_and_dictionary_diagnostics_are_measured_against_true_labels(monkeypatch):
    import datasets
    from datasets import prepare

    ds = datasets.load_dataset("digits")
    _Weights.clean = prepare(ds, TINY["corruption"], 0).clean_mask
    monkeypatch.setitem(methods.METHODS, "oracle", _Weights)
    r = train({**TINY, "method": "oracle"})
    assert r["zero_weight_ratio"] == pytest.approx(r["realized_noise"], abs=0.05)
    assert r["weight_purity"] == 1.0 and r["weight_auroc"] == 1.0 and r["dict_purity"] == 1.0
    assert r["clean_weight"] == 1.0 and r["noisy_weight"] == 0.0


def test_auroc_matches_definition():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    assert math.isnan(auroc([1, 2], [True, True]))
    rng = np.random.default_rng(0)
    s, lab = rng.random(200), rng.random(200) < 0.5
    pairs = np.mean([(a > b) + 0.5 * (a == b) for a in s[lab] for b in s[~lab]])
    assert auroc(s, lab) == pytest.approx(pairs)


def test_weight_stats_zero_ratio_and_purity():
    ws = WeightStats()
    ws.add(torch.tensor([0.0, 0.5, 0.5, 0.0]), torch.tensor([False, True, True, True]))
    s = ws.summary()
    assert s["zero_weight_ratio"] == 0.5 and s["weight_purity"] == 1.0
    assert s["clean_weight"] == pytest.approx(1 / 3) and s["noisy_weight"] == 0.0


def test_shot_accuracy_groups_by_training_count():
    counts = torch.tensor([500, 50, 5])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 0, 0])
    s = shot_accuracy(pred, y, counts)
    assert (s["many_acc"], s["medium_acc"], s["few_acc"]) == (1.0, 0.5, 0.0)


def test_weight_ema_averages_parameters_and_swaps_them_in():
    from bench.trial.harness import WeightEMA

    model = build_model("mlp", (1, 40), 10)
    ema = WeightEMA(model, 0.9)
    first = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update()
    trained = [p.detach().clone() for p in model.parameters()]
    with ema.swapped():
        for p, f in zip(model.parameters(), first):
            torch.testing.assert_close(p, f + 0.1)          # 0.9 * p0 + 0.1 * (p0 + 1)
    for p, t in zip(model.parameters(), trained):
        assert torch.equal(p, t)                            # the trained parameters come back


def test_ema_evaluation_keeps_the_raw_accuracy_beside_it():
    raw = train({**TINY, "method": "softmax"})
    both = train({**TINY, "method": "softmax", "ema_decay": 0.999})
    assert raw["raw_test_acc"] == raw["test_acc"] == both["raw_test_acc"]   # training is unchanged
    assert both["test_acc"] != both["raw_test_acc"]          # 0.999 over ~60 steps: near the initial weights
    halved = train({**TINY, "method": "softmax", "reward_total": 100})
    assert halved["num_reward"] == 100                       # 10 per class over digits' 10 classes


def test_epoch_lines_carry_the_curve_metrics():
    """The per-epoch points of the report's curves: zero-weight ratio once a method weights."""
    from bench.sweep import suites

    t = next(t for t in suites.expand(suites.SUITES["label_noise"], "smoke", methods=["fsr"], seeds=1)
             if t["corruption"] == "uniform:0.4")
    lines = []
    train(dict(t, epochs=2, hparams={**t["hparams"], "reweight_start": 1}), report=lines.append)
    assert "zero_weight_ratio" not in lines[0]                     # the warm-up weights nothing
    assert 0 <= lines[1]["zero_weight_ratio"] <= 1 and 0 <= lines[1]["dict_purity"] <= 1


def test_the_reward_set_size_per_class_is_one_rule():
    """reward_total (a size in all) wins over reward_per_class; the trial and gpu-check share it."""
    from bench.costs import gpucheck
    from bench.trial import harness

    assert harness.reward_per_class({"reward_total": 1000, "reward_per_class": 5}, 10) == 100
    assert harness.reward_per_class({"reward_total": None, "reward_per_class": 5}, 10) == 5
    assert harness.reward_per_class({}, 10) == 0
    assert gpucheck.reward_per_class is harness.reward_per_class
