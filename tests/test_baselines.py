"""The robust-loss baselines GCE and ELR against their loss formulas."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.trial.models import build_model
from methods import METHODS, Batch, Context, StepInfo
from methods.elr import clamped_probs, elr_loss
from methods.gce import gce_loss


def test_gce_is_one_minus_p_to_the_q_over_q():
    logits, y = torch.randn(32, 5, dtype=torch.float64), torch.randint(0, 5, (32,))
    p_y = torch.softmax(logits, 1)[torch.arange(32), y]
    for q in (0.1, 0.7, 1.0):
        torch.testing.assert_close(gce_loss(logits, y, q), (1 - p_y ** q) / q)
    # q -> 0: the cross-entropy; q = 1: one minus p_y (MAE up to a factor)
    torch.testing.assert_close(gce_loss(logits, y, 1e-7), F.cross_entropy(logits, y, reduction="none"), rtol=1e-5, atol=1e-6)


def test_gce_gradient_is_the_ce_gradient_scaled_by_p_y_to_the_q():
    logits, y, q = torch.randn(8, 4, dtype=torch.float64, requires_grad=True), torch.randint(0, 4, (8,)), 0.7
    (g,) = torch.autograd.grad(gce_loss(logits, y, q).sum(), logits)
    (g_ce,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), logits)
    p_y = torch.softmax(logits, 1)[torch.arange(8), y].detach()
    torch.testing.assert_close(g, p_y[:, None] ** q * g_ce)


def _ctx(n=40, C=4):
    y = torch.arange(n) % C
    return Context(num_classes=C, class_counts=torch.bincount(y, minlength=C), num_train=n, epochs=2,
                   steps_per_epoch=4, batch_size=10, train_x=torch.randn(n, 1, 16), train_y=y)


def test_elr_targets_and_loss_follow_the_formula():
    ctx, beta, lam = _ctx(), 0.7, 3.0
    model = build_model("mlp", (1, 16), 4)
    m = METHODS["elr"](model, ctx, target_momentum=beta, reg_weight=lam)
    idx = torch.arange(10)
    batch = Batch(ctx.train_x[idx], ctx.train_y[idx], idx)
    for step in range(2):   # the second step sees targets that are not zero
        with torch.no_grad():
            logits = model(batch.x)
            p = torch.softmax(logits, 1).clamp(1e-4, 1 - 1e-4)
            t = beta * m.target[idx] + (1 - beta) * p / p.sum(1, keepdim=True)
            expected = F.cross_entropy(logits, batch.y) + lam * torch.log(1 - (t * p).sum(1)).mean()
        out = m.update(batch, StepInfo(0, step, 0.1, 2, 4))
        torch.testing.assert_close(m.target[idx], t)
        torch.testing.assert_close(out["loss"], expected)
    assert (m.target[10:] == 0).all()   # only the samples seen have targets


def test_elr_regulariser_pulls_the_prediction_towards_the_target():
    logits = torch.zeros(1, 3, requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 0.0]])
    (g,) = torch.autograd.grad(elr_loss(logits, clamped_probs(logits), torch.tensor([0]), target, 3.0)
                               - F.cross_entropy(logits, torch.tensor([0])), logits)
    assert g[0, 1] < 0 < g[0, 0]   # raising the target's class lowers the regulariser


@pytest.mark.parametrize("bad", [dict(method="gce", q=0.0), dict(method="elr", target_momentum=1.0)])
def test_bad_hyper_parameters_are_refused(bad):
    name = bad.pop("method")
    with pytest.raises(ValueError, match=name):
        METHODS[name](build_model("mlp", (1, 16), 4), _ctx(), **bad)


def test_elr_takes_its_cifar100_setting_on_cifar100_only():
    from bench.sweep import suites

    trials = suites.expand(suites.SUITES["label_noise"], "paper", seeds=1, methods=["elr"])
    assert {(t["dataset"], tuple(sorted(t["hparams"].items()))) for t in trials} == {
        ("cifar10", ()), ("cifar100", (("reg_weight", 7.0), ("target_momentum", 0.9)))}
