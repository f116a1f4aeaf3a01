"""GCE as published: the truncated L_q loss with pruning (Zhang & Sabuncu 2018; reference code
AlanChou/Truncated-Loss, TruncatedLoss.py and main.py at commit 93a24641), checked against
its formulas, and the paper suites running it while smoke and quick keep plain L_q."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.sweep import suites
from methods import METHODS, Batch, Context, StepInfo
from methods.gce import gce_loss, kept, prune_due, truncated_loss

Q, K = 0.7, 0.5


def _logits_with(p_y: torch.Tensor, C: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax puts p_y on class 0 and the rest evenly on the others."""
    probs = torch.cat([p_y[:, None], ((1 - p_y) / (C - 1))[:, None].expand(-1, C - 1)], 1)
    return probs.log(), torch.zeros(len(p_y), dtype=torch.long)


def test_truncated_loss_is_the_mean_of_w_times_lq_minus_lq_at_k():
    logits, y = torch.randn(32, 5, dtype=torch.float64), torch.randint(0, 5, (32,))
    keep = torch.rand(32) < 0.6
    p_y = torch.softmax(logits, 1)[torch.arange(32), y]
    want = (keep.double() * ((1 - p_y ** Q) / Q - (1 - K ** Q) / Q)).sum() / 32   # pruned samples count in the mean
    torch.testing.assert_close(truncated_loss(logits, y, keep, Q, K), want)
    torch.testing.assert_close(truncated_loss(logits, y, torch.ones(32, dtype=torch.bool), Q, K),
                               gce_loss(logits, y, Q).mean() - (1 - K ** Q) / Q)


def test_pruning_keeps_a_sample_iff_lq_at_k_exceeds_its_lq_i_e_p_y_above_k():
    p_y = torch.tensor([0.05, 0.3, 0.49, 0.4999, 0.5001, 0.7, 0.99], dtype=torch.float64)
    logits, y = _logits_with(p_y)
    rule = (1 - K ** Q) / Q > (1 - p_y ** Q) / Q            # TruncatedLoss.update_weight: torch.gt(Lqk, Lq)
    assert torch.equal(kept(logits, y, Q, K), rule)
    assert kept(logits, y, Q, K).tolist() == [False, False, False, False, True, True, True]


def test_pruning_epochs_are_the_reference_rule():
    # main.py: at the start of epoch e (0-based) when (e + 1) >= start_prune and (e + 1) % 10 == 0
    assert [e for e in range(120) if prune_due(e, 40, 10)] == [39, 49, 59, 69, 79, 89, 99, 109, 119]
    assert [e for e in range(150) if prune_due(e, 80, 10)] == [79, 89, 99, 109, 119, 129, 139, 149]


class Lookup(nn.Module):
    """Sample i (a one-hot input) -> its row of fixed logits; dropout shows whether it is in eval mode."""

    def __init__(self, logits):
        super().__init__()
        self.fc = nn.Linear(len(logits), logits.shape[1], bias=False)
        self.fc.weight.data = logits.T.float().clone()
        self.drop = nn.Dropout(0.9)

    def forward(self, x):
        return self.drop(self.fc(x))


def _method(p_y, epochs=6, **hp):
    logits, y = _logits_with(p_y)
    n = len(y)
    ctx = Context(num_classes=4, class_counts=torch.bincount(y, minlength=4), num_train=n, epochs=epochs,
                  steps_per_epoch=1, batch_size=n, train_x=torch.eye(n), train_y=y)
    return METHODS["gce"](Lookup(logits), ctx, truncated=True, **hp), ctx


def test_truncated_gce_prunes_with_the_current_model_in_eval_mode_at_the_start_of_due_epochs():
    p_y = torch.tensor([0.1, 0.4, 0.6, 0.9, 0.2, 0.8])
    m, ctx = _method(p_y, prune_start=2, prune_every=2)
    assert m.keep.all() and m.first_prune() == 1
    m.model.train()
    m.on_epoch_end(0)                    # epoch 1 starts with a pruning: (1 + 1) >= 2 and 2 % 2 == 0
    assert m.keep.tolist() == (p_y > K).tolist()   # dropout off: scored in eval mode
    assert m.model.training               # and left as it was
    m.keep[:] = True
    m.on_epoch_end(1)                    # epoch 2: 3 % 2 != 0
    m.on_epoch_end(5)                    # no epoch 6 in a 6-epoch run
    assert m.keep.all()
    m.on_epoch_end(2)                    # epoch 3: 4 % 2 == 0
    assert m.keep.tolist() == (p_y > K).tolist()


def test_pruning_scores_the_augmented_images_with_the_method_s_own_generator_unless_told_not_to():
    p_y = torch.tensor([0.1, 0.6, 0.9, 0.8])
    seen = []

    def blank(x, generator=None):          # an "augmentation" that erases the image: every p_y becomes 1/4
        seen.append(generator)
        return torch.zeros_like(x)

    m, ctx = _method(p_y, prune_start=1, prune_every=1)
    ctx.augment = blank
    m.prune()
    assert seen == [m.gen] and not m.keep.any()
    m, ctx = _method(p_y, prune_start=1, prune_every=1, prune_augment=False)
    ctx.augment = blank
    m.prune()
    assert m.keep.tolist() == [False, True, True, True]


def test_truncated_gce_step_weighs_pruned_samples_zero_and_reports_the_weights_once_pruning_started():
    p_y = torch.tensor([0.1, 0.4, 0.6, 0.9, 0.2, 0.8])
    m, ctx = _method(p_y, prune_start=2, prune_every=2)
    m.model.eval()                       # no dropout: the expected losses below see the same logits
    batch = Batch(ctx.train_x, ctx.train_y, torch.arange(6))

    def expected():
        with torch.no_grad():
            return truncated_loss(m.model(batch.x), batch.y, m.keep, Q, K)

    want = expected()
    out = m.update(batch, StepInfo(0, 0, 0.1, 6, 1))
    torch.testing.assert_close(out["loss"], want)
    assert "weights" not in out          # epoch 0: nothing pruned yet, no weights to report
    m.on_epoch_end(0)
    assert 0 < m.keep.sum() < 6
    want = expected()
    out = m.update(batch, StepInfo(1, 1, 0.1, 6, 1))
    torch.testing.assert_close(out["loss"], want)
    assert out["weights"].tolist() == m.keep.float().tolist()
    logits = m.model(batch.x).detach().requires_grad_()
    (g,) = torch.autograd.grad(truncated_loss(logits, batch.y, m.keep, Q, K), logits)
    assert (g[~m.keep] == 0).all() and (g[m.keep] != 0).all()


def test_prune_start_as_a_fraction_of_the_run():
    p_y = torch.full((4,), 0.7)
    assert _method(p_y, epochs=127, prune_start=40 / 120)[0].first_prune() == 49      # round(127 / 3) = 42 -> 50th
    assert _method(p_y, epochs=127, prune_start=80 / 150)[0].first_prune() == 69      # round(67.7) = 68 -> 70th
    assert _method(p_y, epochs=120, prune_start=40)[0].first_prune() == 39


@pytest.mark.parametrize("bad", [dict(k=1.0), dict(k=0.0), dict(prune_every=0), dict(prune_start=1.5),
                                 dict(truncated="yes")])
def test_bad_truncation_settings_are_refused(bad):
    with pytest.raises(ValueError, match="gce"):
        METHODS["gce"].check_hparams(bad)


def test_paper_suites_run_the_truncated_form_and_smoke_and_quick_plain_lq():
    # AlanChou/Truncated-Loss README: CIFAR-10 --epochs 120 --start_prune 40, CIFAR-100 --epochs 150
    # --start_prune 80; TruncatedLoss.py k = 0.5; main.py every 10 epochs
    want = {"cifar10": 40 / 120, "cifar100": 80 / 150}
    for name in ("label_noise", "asym_noise"):
        trials = suites.expand(suites.SUITES[name], "paper", seeds=1, methods=["gce"])
        assert {t["dataset"] for t in trials} == {"cifar10", "cifar100"}
        for t in trials:
            assert t["hparams"] == dict(truncated=True, k=0.5, prune_every=10, prune_start=want[t["dataset"]],
                                        prune_augment=True)     # main.py scores through its training loader
        for profile in ("smoke", "quick"):
            assert all(t["hparams"] == {} for t in suites.expand(suites.SUITES[name], profile, methods=["gce"]))
