"""MWN: the weighting network's gradient by forward mode against double back-propagation and
finite differences of the meta loss; BatchNorm running statistics; a short harness run."""
import copy

import pytest
import torch

from bench.trial.harness import train
from bench.trial.models import SmallCNN
from methods import Batch, Context, StepInfo
from methods.base import per_sample_ce
from methods._functional import fcall
from methods.mwn import MWN

B, Q, C, L = 8, 6, 4, 12


def rel(a, b):
    return float((a - b).norm() / b.norm())


def flat(tensors):
    return torch.cat([t.flatten() for t in tensors])


def setup(seed=0, **hparams):
    torch.manual_seed(seed)
    model = SmallCNN((1, L), C, width=4).double()
    model.train()
    ctx = Context(num_classes=C, class_counts=torch.full((C,), 10), num_train=40, epochs=1, steps_per_epoch=5,
                  batch_size=B, reward_x=torch.randn(Q, 1, L, dtype=torch.double), reward_y=torch.arange(Q) % C,
                  seed=seed)
    method = MWN(model, ctx, reward_batch=Q, **hparams)
    x, y = torch.randn(B, 1, L, dtype=torch.double), torch.randint(0, C, (B,))
    return method, x, y, ctx.reward_x, ctx.reward_y


def meta_loss_at(method, x, y, xm, ym, lr):
    """L_meta(theta - lr * grad sum_i u_i(phi) CE_i), batch statistics, no autograd into phi."""
    meta = method.meta_params()
    loss = per_sample_ce(fcall(method.model, meta, x), y)
    with torch.no_grad():
        u = method.weights(loss)
    grads = torch.autograd.grad((u * loss).sum(), list(meta.values()))
    ahead = {n: p.detach() - lr * g for (n, p), g in zip(meta.items(), grads)}
    with torch.no_grad():
        return per_sample_ce(fcall(method.model, ahead, xm), ym).mean()


@pytest.mark.parametrize("hparams", [{}, {"normalize": True}, {"meta_layers": "fc"}, {"meta_grad": "func_jvp"},
                                     {"meta_grad": "func_jvp", "meta_layers": 2}, {"meta_layers": 2}])
def test_jvp_matches_double_backprop_and_finite_differences(hparams):
    method, x, y, xm, ym = setup(**hparams)
    assert (method.recorder is None) == (method.hp["meta_grad"] == "func_jvp")
    lr, h = 0.1, 1e-6
    fast, _, loss = method.wnet_grad_jvp(x, y, xm, ym, lr, update_stats=False)
    torch.testing.assert_close(loss, per_sample_ce(fcall(method.model, {}, x), y), rtol=1e-12, atol=1e-12)
    slow, _ = method.wnet_grad_double_backprop(x, y, xm, ym, lr)
    assert flat(fast).abs().max() > 0
    assert rel(flat(fast), flat(slow)) <= 1e-10
    # central differences on a few coordinates of every weighting-net parameter
    fd, an = [], []
    for p, g in zip(method.wnet.parameters(), fast):
        for j in torch.argsort(g.flatten().abs(), descending=True)[:4]:
            orig = p.data.view(-1)[j].item()
            p.data.view(-1)[j] = orig + h
            up = meta_loss_at(method, x, y, xm, ym, lr)
            p.data.view(-1)[j] = orig - h
            down = meta_loss_at(method, x, y, xm, ym, lr)
            p.data.view(-1)[j] = orig
            fd.append((up - down) / (2 * h))
            an.append(g.flatten()[j])
    assert rel(torch.stack(an), torch.stack(fd)) <= 1e-4


@pytest.mark.parametrize("meta_grad", ["jvp", "func_jvp", "double_backprop"])
def test_running_stats_only_from_the_real_forward(meta_grad):
    method, x, y, xm, ym = setup(meta_grad=meta_grad)
    reference = copy.deepcopy(method.model)
    before = {n: b.clone() for n, b in method.model.named_buffers()}
    method.wnet_grad_double_backprop(x, y, xm, ym, 0.1)
    method.wnet_grad_jvp(x, y, xm, ym, 0.1, update_stats=False)
    for n, b in method.model.named_buffers():
        assert torch.equal(b, before[n]), n
    wnet_before = flat(method.wnet.parameters()).clone()
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 0, 0.1, 1, 5))
    reference(x)
    for (n, b), (_, r) in zip(method.model.named_buffers(), reference.named_buffers()):
        assert torch.allclose(b, r, rtol=0, atol=1e-14), n
    assert not torch.equal(flat(method.wnet.parameters()), wnet_before)   # the weighting net moved
    assert out["weights"].shape == (B,) and (out["weights"] > 0).all()


def test_jvp_and_double_backprop_take_the_same_steps():
    states = []
    for meta_grad in ("jvp", "func_jvp", "double_backprop"):
        method, x, y, *_ = setup(meta_grad=meta_grad)
        for t in range(3):
            out = method.update(Batch(x + 0.1 * t, y, torch.arange(B)), StepInfo(0, t, 0.1, 1, 5))
        states.append((flat(method.model.parameters()).detach(), flat(method.wnet.parameters()).detach(),
                       out["weights"]))
    for other in states[1:]:
        for a, b in zip(states[0], other):
            assert rel(a, b) <= 1e-10


def test_normalised_weights_sum_to_one():
    method, x, y, *_ = setup(normalize=True)
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 0, 0.1, 1, 5))
    assert abs(float(out["weights"].sum()) - 1) < 1e-12
    method, *_ = setup()
    out = method.update(Batch(x, y, torch.arange(B)), StepInfo(0, 0, 0.1, 1, 5))
    assert torch.allclose(out["weights"], method.wnet(per_sample_ce(method.model(x), y).detach()).detach() / B,
                          atol=0.05 / B)  # u = v / B, v in (0, 1)


def test_weight_net_shape_and_optimiser():
    method, *_ = setup()
    shapes = [tuple(p.shape) for p in method.wnet.parameters()]
    assert shapes == [(100, 1), (100,), (1, 100), (1,)]
    group = method.wopt.param_groups[0]
    assert isinstance(method.wopt, torch.optim.Adam) and group["lr"] == 1e-3 and group["weight_decay"] == 1e-4
    # the class-imbalance script's optimiser
    method, *_ = setup(wnet_optim="sgd", wnet_lr=1e-5, wnet_weight_decay=5e-4)
    group = method.wopt.param_groups[0]
    assert isinstance(method.wopt, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (1e-5, 0.9, True, 5e-4)
    with pytest.raises(ValueError, match="wnet_optim"):
        setup(wnet_optim="rmsprop")


def test_harness_end_to_end():
    res = train(dict(method="mwn", hparams=dict(reward_batch=50), corruption="uniform:0.4",
                     reward_per_class=5, epochs=1, train_limit=600, timing_warmup_steps=1))
    assert res["num_reward"] == 50 and 0 <= res["test_acc"] <= 1 and 0 <= res["weight_auroc"] <= 1
