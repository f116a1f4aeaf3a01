import math

import pytest
import torch
import torch.nn.functional as F

from methods.cb import class_balanced_weights, cb_loss


def test_weights_follow_effective_number_and_sum_to_c():
    counts = torch.tensor([5000, 500, 50, 5])
    beta = 0.999
    w = class_balanced_weights(counts, beta)
    raw = torch.tensor([(1 - beta) / (1 - beta ** int(n)) for n in counts], dtype=torch.float64)
    expected = raw / raw.sum() * len(counts)
    assert torch.allclose(w.double(), expected, rtol=1e-6)
    assert math.isclose(float(w.sum()), 4.0, rel_tol=1e-6)
    assert w[3] > w[2] > w[1] > w[0]  # rarer classes weigh more


def test_beta_moves_from_uniform_towards_inverse_frequency():
    counts = torch.tensor([1000, 100, 50])
    small, large = class_balanced_weights(counts, 0.9), class_balanced_weights(counts, 0.9999)
    assert float(small[2] / small[0]) < 1.01          # E_c saturates at 1 / (1 - beta) = 10
    assert 15 < float(large[2] / large[0]) < 20        # E_c close to n_c: ratio near 1000 / 50


def test_beta_zero_is_plain_cross_entropy():
    logits, y = torch.randn(32, 5), torch.randint(0, 5, (32,))
    w = class_balanced_weights(torch.tensor([100, 50, 20, 10, 5]), 0.0)
    assert torch.equal(w, torch.ones(5))
    assert torch.allclose(cb_loss(logits, y, w, "softmax"), F.cross_entropy(logits, y))


def test_softmax_variant_is_batch_mean_not_pytorch_weighted_mean():
    logits, y = torch.randn(16, 3), torch.tensor([0] * 12 + [1] * 3 + [2])
    w = class_balanced_weights(torch.tensor([1000, 10, 1]), 0.999)
    ours = cb_loss(logits, y, w, "softmax")
    manual = (w[y] * F.cross_entropy(logits, y, reduction="none")).mean()
    assert torch.allclose(ours, manual)
    assert not torch.allclose(ours, F.cross_entropy(logits, y, weight=w))  # PyTorch divides by sum w_y


def test_focal_is_modulated_bce_and_gamma_zero_is_sigmoid():
    logits, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 4, (8,))
    w = torch.ones(4, dtype=torch.float64)
    onehot = F.one_hot(y, 4).double()
    p = torch.sigmoid(logits)
    pt = torch.where(onehot.bool(), p, 1 - p)
    bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    gamma = 2.0
    assert torch.allclose(cb_loss(logits, y, w, "focal", gamma), ((1 - pt) ** gamma * bce).sum(1).mean())
    assert torch.allclose(cb_loss(logits, y, w, "focal", 0.0), cb_loss(logits, y, w, "sigmoid"))


def test_sigmoid_variants_start_the_bias_at_minus_log_c_minus_one():
    from bench.trial.models import build_model
    from methods import Context, get_method_class

    model = build_model("mlp", (1, 40), 10)
    ctx = Context(num_classes=10, class_counts=torch.full((10,), 100), num_train=1000, epochs=1,
                  steps_per_epoch=10, batch_size=100)
    m = get_method_class("cb")(model, ctx, loss="focal", beta=0.99)
    assert torch.allclose(model.fc.bias, torch.full((10,), -math.log(9)))
    # the bias takes no weight decay, every other parameter does
    decay = {id(p): g["weight_decay"] for g in m.opt.param_groups for p in g["params"]}
    assert decay[id(model.fc.bias)] == 0.0
    assert all(decay[id(p)] == 5e-4 for p in model.parameters() if p is not model.fc.bias)
    assert len(decay) == len(list(model.parameters()))
    soft = get_method_class("cb")(build_model("mlp", (1, 40), 10), ctx)
    assert [g["weight_decay"] for g in soft.opt.param_groups] == [5e-4]


def test_unknown_hyper_parameter_is_rejected():
    from bench.trial.models import build_model
    from methods import Context, get_method_class

    ctx = Context(num_classes=3, class_counts=torch.ones(3), num_train=3, epochs=1, steps_per_epoch=1, batch_size=1)
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        get_method_class("cb")(build_model("mlp", (1, 4), 3), ctx, betta=0.9)
