"""L2R: the jvp identity against explicit double back-propagation and finite differences of
the reward loss; BatchNorm running statistics; weight normalisation; a short harness run."""
import copy

import pytest
import torch

from bench.trial.harness import train
from bench.trial.models import SmallCNN
from methods import Batch, Context, StepInfo, get_method_class
from methods.base import per_sample_ce
from methods._functional import fcall, meta_parameter_names
from methods.l2r import L2R, normalise

B, Q, C, L = 8, 6, 4, 12


def rel(a, b):
    return float((a - b).norm() / b.norm())


def setup(meta_layers="all", meta_grad="jvp", seed=0):
    torch.manual_seed(seed)
    model = SmallCNN((1, L), C, width=4).double()
    model.train()
    ctx = Context(num_classes=C, class_counts=torch.full((C,), 10), num_train=40, epochs=1, steps_per_epoch=5,
                  batch_size=B, reward_x=torch.randn(Q, 1, L, dtype=torch.double), reward_y=torch.arange(Q) % C,
                  seed=seed)
    method = L2R(model, ctx, reward_batch=Q, meta_layers=meta_layers, meta_grad=meta_grad)
    x, y = torch.randn(B, 1, L, dtype=torch.double), torch.randint(0, C, (B,))
    return method, x, y, ctx.reward_x, ctx.reward_y


def reward_after_lookahead(method, x, y, xr, yr, eps, alpha):
    """L_R(theta - alpha * grad sum_i eps_i CE_i), all on batch statistics."""
    meta = method.meta_params()
    loss = per_sample_ce(fcall(method.model, meta, x), y)
    grads = torch.autograd.grad((eps * loss).sum(), list(meta.values()))
    ahead = {n: p.detach() - alpha * g for (n, p), g in zip(meta.items(), grads)}
    with torch.no_grad():
        return per_sample_ce(fcall(method.model, ahead, xr), yr).mean()


@pytest.mark.parametrize("meta_grad", ["jvp", "func_jvp"])
@pytest.mark.parametrize("meta_layers", ["all", "fc", 3])
def test_jvp_matches_double_backprop_and_finite_differences(meta_layers, meta_grad):
    method, x, y, xr, yr = setup(meta_layers, meta_grad)
    assert (method.recorder is None) == (meta_grad == "func_jvp")
    alpha, h = 0.1, 1e-5
    fast, loss = method.eps_grad_jvp(x, y, xr, yr, alpha)
    torch.testing.assert_close(loss, per_sample_ce(fcall(method.model, {}, x), y), rtol=1e-12, atol=1e-12)
    slow = method.eps_grad_double_backprop(x, y, xr, yr, alpha)
    fd = torch.stack([(reward_after_lookahead(method, x, y, xr, yr, h * e, alpha)
                       - reward_after_lookahead(method, x, y, xr, yr, -h * e, alpha)) / (2 * h)
                      for e in torch.eye(B, dtype=torch.double)])
    assert fast.abs().max() > 0
    assert rel(fast, slow) <= 1e-10
    assert rel(fast, fd) <= 1e-4
    assert rel(slow, fd) <= 1e-4


def test_meta_layer_selection():
    model = SmallCNN((1, L), C, width=4)
    assert meta_parameter_names(model, "fc") == ["fc.weight", "fc.bias"]
    assert meta_parameter_names(model, "all") == [n for n, _ in model.named_parameters()]
    assert meta_parameter_names(model, 2) == ["body.7.weight", "body.7.bias", "fc.weight", "fc.bias"]
    assert meta_parameter_names(model, "body.6, fc") == ["body.6.weight", "fc.weight", "fc.bias"]


@pytest.mark.parametrize("meta_grad", ["jvp", "func_jvp", "double_backprop"])
def test_running_stats_only_from_the_real_forward(meta_grad):
    method, x, y, *_ = setup(meta_grad=meta_grad)
    reference = copy.deepcopy(method.model)
    before = {n: b.clone() for n, b in method.model.named_buffers()}
    method.eps_grad_double_backprop(x, y, *method.reward_batch())
    method.eps_grad_jvp(x, y, *method.reward_batch())
    for n, b in method.model.named_buffers():
        assert torch.equal(b, before[n]), n          # meta passes leave the statistics alone
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 0, 0.1, 1, 5))
    reference(x)                                     # one plain training forward
    for (n, b), (_, r) in zip(method.model.named_buffers(), reference.named_buffers()):
        assert torch.allclose(b, r, rtol=0, atol=1e-14), n
    w = out["weights"]
    assert w.shape == (B,) and (w >= 0).all() and abs(float(w.sum()) - 1) < 1e-12


def test_jvp_and_double_backprop_take_the_same_step():
    steps = []
    for meta_grad in ("jvp", "func_jvp", "double_backprop"):
        method, x, y, *_ = setup(meta_grad=meta_grad)
        for t in range(3):
            out = method.update(Batch(x + 0.1 * t, y, torch.arange(B)), StepInfo(0, t, 0.1, 1, 5))
        steps.append((torch.cat([p.detach().flatten() for p in method.model.parameters()]), out["weights"]))
    for other in steps[1:]:
        assert rel(steps[0][0], other[0]) <= 1e-10
        assert rel(steps[0][1], other[1]) <= 1e-8


def test_normalise():
    w = normalise(torch.tensor([0.5, -1.0, 1.5, 0.0]))
    assert torch.allclose(w, torch.tensor([0.25, 0.0, 0.75, 0.0]))
    assert torch.equal(normalise(torch.tensor([-1.0, 0.0, -2.0, 0.0])), torch.zeros(4))


def test_all_zero_weights_take_no_step():
    """Every raw weight <= 0: zero weights and no optimiser step (momentum and weight decay
    would otherwise move the parameters)."""
    method, x, y, xr, yr = setup()
    method.eps_grad_jvp = lambda *a, **k: (torch.ones(B, dtype=torch.double),  # every raw weight < 0
                                           per_sample_ce(method.model(x), y))
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 0, 0.1, 1, 5))   # first step: no buffer yet
    before = [p.detach().clone() for p in method.model.parameters()]
    method.opt.state.clear()
    for p in method.model.parameters():       # a momentum buffer that a step would apply
        method.opt.state[p]["momentum_buffer"] = torch.ones_like(p)
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 1, 0.1, 1, 5))
    assert torch.equal(out["weights"], torch.zeros(B, dtype=torch.double))
    for a, p in zip(before, method.model.parameters()):
        assert torch.equal(a, p.detach())


def test_needs_reward_set():
    model = SmallCNN((1, L), C, width=4)
    ctx = Context(num_classes=C, class_counts=torch.ones(C), num_train=8, epochs=1, steps_per_epoch=1, batch_size=B)
    with pytest.raises(ValueError):
        get_method_class("l2r")(model, ctx)


@pytest.mark.parametrize("hparams", [{}, {"meta_layers": "fc", "meta_grad": "double_backprop"}])
def test_harness_end_to_end(hparams):
    res = train(dict(method="l2r", hparams=dict(reward_batch=50, **hparams), corruption="uniform:0.4",
                     reward_per_class=5, epochs=1, train_limit=600, timing_warmup_steps=1))
    assert res["num_reward"] == 50 and 0 <= res["test_acc"] <= 1
    assert 0 <= res["zero_weight_ratio"] <= 1 and 0 <= res["weight_auroc"] <= 1
