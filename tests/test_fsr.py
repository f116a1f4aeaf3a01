"""FSR: closed-form eps-gradient, dictionary, weight normalisation, an end-to-end run."""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from bench.trial.harness import train
from bench.trial.models import build_model
from methods import METHODS, Batch, Context, StepInfo
from methods.fsr import FSR, closed_form_eps_grad, eval_mode, soft_ce  # noqa: F401
from methods._functional import frozen_bn_stats


def make_ctx(n=200, C=4, shape=(1, 16), dtype=torch.float32, **kw):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g, dtype=dtype)
    y = torch.arange(n) % C
    return Context(num_classes=C, class_counts=torch.bincount(y, minlength=C), num_train=n, epochs=4,
                   steps_per_epoch=n // 20, batch_size=20, train_x=x, train_y=y, seed=0, **kw)


def make_fsr(dtype=torch.float32, **hp):
    ctx = make_ctx(dtype=dtype)
    model = build_model("small_cnn", (1, 16), 4).to(dtype)
    hp = {"dictionary_size": 40, "reward_batch": 8, "dictionary_max_fraction": 1.0, "reweight_start": 0,
          "mixup": False, "relabel": False, **hp}
    return FSR(model, ctx, **hp), ctx


def batch_of(ctx, lo=0, hi=20):
    idx = torch.arange(lo, hi)
    return Batch(ctx.train_x[idx], ctx.train_y[idx], idx)


def _forward_restoring(model, x, train=True):
    """Features of ``x`` in train (batch-statistics) or eval mode, running statistics restored."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    was = model.training
    model.train(train)
    with torch.no_grad():
        h = model.features(x)
    model.train(was)
    model.load_state_dict(saved)
    return h


def explicit_lookahead(m, x, target, x_after, y_after, x_r, y_r, joint=True):
    """Brute force of the reference's ``meta_optimize`` on the last layer: autograd through an
    explicit FC' (momentum buffer and weight decay folded in), the meta loss with the weight-decay
    term of FC', and a SECOND forward of [reward; un-mixed] as one batch on batch statistics
    (``joint=False``, no MixUp: the reward batch alone, the after side on the training forward).
    Returns (d L_meta / d eps, margin = CE_before - CE_after)."""
    model, B, alpha = m.model, len(target), m.hp["alpha"]
    wd = m.opt.param_groups[0]["weight_decay"]
    h = _forward_restoring(model, x)
    if joint:
        f = _forward_restoring(model, torch.cat([x_r, x_after]))
        h_r, h_after = f[:len(x_r)], f[len(x_r):]
    else:
        h_r, h_after = _forward_restoring(model, x_r), h
    eps = torch.full((B,), 1.0 / B, dtype=h.dtype, requires_grad=True)
    W, b = model.fc.weight.detach().requires_grad_(), model.fc.bias.detach().requires_grad_()
    ce = soft_ce(h @ W.T + b, target)
    gW, gb = torch.autograd.grad((eps * ce).sum(), (W, b), create_graph=True)
    group = m.opt.param_groups[0]
    extra = lambda p: group["weight_decay"] * p.detach() + group["momentum"] * m.opt.state[p]["momentum_buffer"]
    W2 = W - alpha * (gW + extra(model.fc.weight))
    b2 = b - alpha * (gb + extra(model.fc.bias))
    meta = F.cross_entropy(h_r @ W2.T + b2, y_r) + 0.5 * wd * (W2.pow(2).sum() + b2.pow(2).sum())
    grad = torch.autograd.grad(meta, eps)[0]
    with torch.no_grad():
        margin = ce - F.cross_entropy(h_after @ W2.T + b2, y_after, reduction="none")
    return grad, margin.detach()


def _spy_closed_form(m, batch, info):
    import methods.fsr as fsr_mod
    captured, orig = {}, fsr_mod.closed_form_eps_grad

    def spy(*a):
        captured["grad"], loss = orig(*a)
        return captured["grad"], loss
    fsr_mod.closed_form_eps_grad = spy
    try:
        out = m.update(batch, info)
    finally:
        fsr_mod.closed_form_eps_grad = orig
    return captured["grad"], out


def test_closed_form_matches_autograd_float64():
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, weight_rule="shift", score_momentum=0.0)
    info = StepInfo(0, 0, 0.1, 4, 10)
    m.update(batch_of(ctx, 20, 40), info)  # one real step: a momentum buffer and moved BN statistics
    batch = batch_of(ctx)
    state = m.gen.get_state()
    x_r, y_r = m.reward_batch()
    m.gen.set_state(state)
    target = F.one_hot(batch.y, 4).double()
    expected, margin = explicit_lookahead(m, batch.x, target, batch.x, batch.y, x_r, y_r, joint=False)
    got, out = _spy_closed_form(m, batch, info)
    rel = (got - expected).norm() / expected.norm()
    assert rel <= 1e-5, rel
    # without MixUp the margin's "after" side is the training forward's (same features)
    torch.testing.assert_close(m.dictionary.score[batch.idx], margin, rtol=1e-6, atol=1e-9)
    # shift normalisation of that gradient
    raw = 1.0 / 20 - expected
    w = raw - raw.min() + 1.0 / 20
    torch.testing.assert_close(out["weights"], w / (w.sum() + 1e-5), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("active", [True, False])
def test_reference_margin_with_mixup_matches_brute_force(active):
    """The default margin with MixUp: the un-mixed batch at FC' with hard labels, its features
    from one forward of [reward; un-mixed] on batch statistics (also in the warm-up); the
    eps-gradient from the reward features of that same forward; running statistics untouched
    by it."""
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, mixup=True, score_momentum=0.0, reweight_start=0 if active else 5)
    info = StepInfo(0, 0, 0.1, 4, 10)
    m.update(batch_of(ctx, 20, 40), info)
    batch = batch_of(ctx)
    state = m.gen.get_state()
    x_r, y_r = m.reward_batch()
    u = torch.rand(20, generator=m.gen, dtype=torch.float64)
    perm = torch.randperm(20, generator=m.gen)
    m.gen.set_state(state)
    mix = 1 - u ** 2 / 2
    x = mix[:, None, None] * batch.x + (1 - mix[:, None, None]) * batch.x[perm]
    t = F.one_hot(batch.y, 4).double()
    target = mix[:, None] * t + (1 - mix[:, None]) * t[perm]
    expected, margin = explicit_lookahead(m, x, target, batch.x, batch.y, x_r, y_r)
    twin = copy.deepcopy(m.model)
    with torch.no_grad():
        twin(x)                            # one plain training forward of the mixed batch
    if active:
        got, _ = _spy_closed_form(m, batch, info)
        assert (got - expected).norm() / expected.norm() <= 1e-6
    else:
        assert "weights" not in m.update(batch, info)
    torch.testing.assert_close(m.dictionary.score[batch.idx], margin, rtol=1e-6, atol=1e-9)
    # the running statistics moved exactly once: by the mixed training forward
    for name, buf in twin.named_buffers():
        torch.testing.assert_close(dict(m.model.named_buffers())[name], buf, rtol=1e-9, atol=1e-12)


def test_deeper_meta_layers_reduce_to_closed_form():
    """meta_layers=1 (the last module, fc: its weight and bias through torch.func) equals the closed form."""
    weights = []
    for layers in ("fc", 1):
        torch.manual_seed(0)
        m, ctx = make_fsr(torch.float64, meta_layers=layers, reward_bn="batch")
        info = StepInfo(0, 0, 0.1, 4, 10)
        m.update(batch_of(ctx, 20, 40), info)
        weights.append(m.update(batch_of(ctx), info)["weights"])
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-7, atol=1e-10)
    m, ctx = make_fsr(meta_layers="all")
    assert "weights" in m.update(batch_of(ctx), StepInfo(0, 0, 0.1, 4, 10))


def test_clip_weights_zero_and_normalised():
    m, ctx = make_fsr()
    info = StepInfo(0, 0, 0.1, 4, 10)
    for s in range(3):
        w = m.update(batch_of(ctx, 20 * s, 20 * s + 20), info)["weights"]
        assert (w >= 0).all()
        assert w.sum() == pytest.approx(1.0, abs=1e-3) or w.sum() == 0


def test_warmup_returns_no_weights_but_updates_scores():
    m, ctx = make_fsr(reweight_start=2)
    out = m.update(batch_of(ctx), StepInfo(0, 0, 0.1, 4, 10))
    assert "weights" not in out
    assert m.dictionary.seen[:20].all() and not m.dictionary.seen[20:].any() and (m.dictionary.score[:20] != 0).any()
    out = m.update(batch_of(ctx), StepInfo(2, 20, 0.1, 4, 10))
    assert "weights" in out


def test_dictionary_balanced_and_pure():
    m, ctx = make_fsr()
    clean = torch.rand(ctx.num_train, generator=torch.Generator().manual_seed(1)) > 0.4
    m.dictionary.score[:] = clean.float() + 0.01 * torch.rand(ctx.num_train)
    m.dictionary.seen[:] = True
    d = m.on_epoch_end(0)["dictionary"]
    counts = torch.bincount(ctx.train_y[d], minlength=ctx.num_classes)
    assert (counts == m.dictionary.per_class).all() and len(d) == 40
    assert clean[d].float().mean() == 1.0  # purity against the true labels
    assert len(set(d.tolist())) == len(d)


def test_small_class_warns_and_replaces():
    ctx = make_ctx()
    ctx.train_y = ctx.train_y.clone()
    ctx.train_y[ctx.train_y == 3] = 0
    ctx.train_y[3] = 3  # class 3 has one sample
    with pytest.warns(UserWarning, match="replacement"):
        m = FSR(build_model("small_cnn", (1, 16), 4), ctx, dictionary_size=40, reward_batch=8, dictionary_max_fraction=1.0)
    assert (m.dictionary.indices[3] == 3).all()


def test_registry_and_deferred():
    assert METHODS["fsr"] is FSR and issubclass(METHODS["fsr_df"], FSR)
    ctx = make_ctx()
    m = METHODS["fsr_df"](build_model("small_cnn", (1, 16), 4), ctx, dictionary_max_fraction=1.0)
    assert "weights" not in m.update(batch_of(ctx), StepInfo(0, 0, 0.1, 4, 10))
    assert "weights" in m.update(batch_of(ctx), StepInfo(3, 30, 0.001, 4, 10))  # after the first decay


@pytest.mark.parametrize("pusher", ["meta_margin", "neg_loss", "max_margin", "forgetting", "aum"])
def test_end_to_end(pusher):
    hp = dict(reweight_start=1, pusher=pusher)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = train(dict(dataset="mnist1d", corruption="uniform:0.4", method="fsr", epochs=2, train_limit=600,
                       hparams=hp))
    assert 0 <= r["dict_purity"] <= 1 and 0 <= r["zero_weight_ratio"] <= 1
    assert r["test_acc"] > 0.1


def explicit_margin(m, batch, u, perm, kind="reference"):
    """The meta-margin by autograd: the look-ahead FC' = FC - alpha * (grad of the 1/B-weighted
    CE of the MIXED batch + weight decay + momentum buffer); margin = CE(mixed batch, mixed
    targets; FC) - CE(after; FC') where "after" is, by ``kind``:
    reference: the UN-mixed batch with hard labels, its features with BatchNorm in eval mode
      (reward_bn="eval"; the default "batch" is tested against ``explicit_lookahead``);
    hard_label: the mixed batch's (training) features with hard labels;
    same_batch: the mixed batch with its mixed targets."""
    model, B, alpha, C = m.model, len(batch.y), m.hp["alpha"], m.ctx.num_classes
    mix = (1 - u ** 2 / 2).to(batch.x.dtype)
    x = mix[:, None, None] * batch.x + (1 - mix[:, None, None]) * batch.x[perm]
    y1 = F.one_hot(batch.y, C).to(x.dtype)
    t = mix[:, None] * y1 + (1 - mix[:, None]) * y1[perm]
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        with eval_mode(model):                # before the training forward moves the BN statistics
            h_u = model.features(batch.x)
        h = model.features(x)                 # training mode, as the method's training forward
    model.load_state_dict(saved)
    W, b = model.fc.weight.detach().requires_grad_(), model.fc.bias.detach().requires_grad_()
    ce_before = soft_ce(h @ W.T + b, t)
    gW, gb = torch.autograd.grad(ce_before.sum() / B, (W, b))
    group = m.opt.param_groups[0]
    extra = lambda p: group["weight_decay"] * p.detach() + group["momentum"] * m.opt.state[p]["momentum_buffer"]
    W2, b2 = W - alpha * (gW + extra(model.fc.weight)), b - alpha * (gb + extra(model.fc.bias))
    if kind == "same_batch":
        ce_after = soft_ce(h @ W2.T + b2, t)
    else:
        ce_after = F.cross_entropy((h_u if kind == "reference" else h) @ W2.T + b2, batch.y, reduction="none")
    return (ce_before - ce_after).detach()


@pytest.mark.parametrize("warmup", [0, 2])
def test_reference_meta_margin_eval_bn_matches_explicit(warmup):
    """margin="reference", reward_bn="eval": after on the un-mixed batch at FC', eval BatchNorm."""
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, mixup=True, reweight_start=warmup, score_momentum=0.0, reward_bn="eval")
    info = StepInfo(0, 0, 0.1, 4, 10)
    m.update(batch_of(ctx, 20, 40), info)  # a momentum buffer and moved BN statistics
    batch = batch_of(ctx)
    state = m.gen.get_state()
    x_r = m.reward_batch()[0] if warmup == 0 else None  # the draws the step makes, in its order
    u = torch.rand(20, generator=m.gen, dtype=torch.float64)
    perm = torch.randperm(20, generator=m.gen)
    m.gen.set_state(state)
    expected = explicit_margin(m, batch, u, perm)
    out = m.update(batch, info)
    torch.testing.assert_close(m.dictionary.score[:20], expected, rtol=1e-9, atol=1e-12)  # lam = 0: score = margin
    assert out["margin"] == pytest.approx(expected.mean().item(), rel=1e-9)
    assert ("weights" in out) == (warmup == 0)


@pytest.mark.parametrize("kind,warmup", [("hard_label", 0), ("hard_label", 2), ("same_batch", 2)])
def test_margin_options(kind, warmup):
    """margin="hard_label" (cost-saving option): after = the mixed batch's features with hard labels;
    "same_batch": both sides on the mixed batch and its mixed targets."""
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, mixup=True, margin=kind, score_momentum=0.0, reweight_start=warmup)
    assert FSR.defaults["margin"] == "reference" and FSR.defaults["reward_bn"] == "batch"
    info = StepInfo(0, 0, 0.1, 4, 10)
    m.update(batch_of(ctx, 20, 40), info)
    batch = batch_of(ctx)
    state = m.gen.get_state()
    if warmup == 0:
        m.reward_batch()   # the step draws its reward batch first
    u = torch.rand(20, generator=m.gen, dtype=torch.float64)
    perm = torch.randperm(20, generator=m.gen)
    m.gen.set_state(state)
    expected = explicit_margin(m, batch, u, perm, kind=kind)
    m.update(batch, info)
    torch.testing.assert_close(m.dictionary.score[:20], expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="margin"):
        make_fsr(margin="bogus")


def test_hard_label_margin_is_the_reference_without_mixup():
    """Without MixUp the training features are the un-mixed ones: "hard_label" and "reference"
    give the same scores, weights and parameters, and neither forwards the batch twice."""
    runs = {}
    for kind in ("hard_label", "reference"):
        torch.manual_seed(0)
        m, ctx = make_fsr(torch.float64, mixup=False, margin=kind, reweight_start=0)
        calls = []
        hook = m.model.body.register_forward_pre_hook(lambda mod, inp: calls.append(len(inp[0])))
        for i in range(3):
            out = m.update(batch_of(ctx, 20 * i, 20 * i + 20), StepInfo(0, i, 0.1, 4, 10))
        hook.remove()
        runs[kind] = (m.dictionary.score.clone(), out["weights"], [p.detach().clone() for p in m.model.parameters()], calls)
    (s1, w1, p1, c1), (s2, w2, p2, c2) = runs["hard_label"], runs["reference"]
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert c1 == c2 == [8, 20] * 3   # per step: the reward forward (q = 8), the training forward


@pytest.mark.parametrize("kind,sizes", [("hard_label", [8, 20]), ("same_batch", [8, 20]), ("reference", [28, 20])])
def test_backbone_forwards_per_step_with_mixup(kind, sizes):
    """With MixUp only margin="reference" forwards the un-mixed batch too: joined to the reward
    batch, one no-grad forward of q + B (the floor), then the training forward."""
    m, ctx = make_fsr(mixup=True, relabel=True, margin=kind)
    calls = []
    m.model.body.register_forward_pre_hook(lambda mod, inp: calls.append(len(inp[0])))
    m.update(batch_of(ctx), StepInfo(0, 0, 0.1, 4, 10))
    assert calls == sizes


def test_reward_samples_are_augmented_with_the_methods_own_generator():
    """reward_augment (default, as the reference queue): the drawn reward samples pass through
    the harness's augmentation, drawing from FSR's generator, never the harness's."""
    seen = []

    def augment(x, generator=None):
        seen.append(generator)
        return x + 1.0

    m, ctx = make_fsr()
    ctx.augment = augment
    state = m.gen.get_state()
    m.hp["reward_augment"] = False
    plain, y0 = m.reward_batch()
    assert seen == []
    m.gen.set_state(state)
    m.hp["reward_augment"] = True
    x, y = m.reward_batch()
    assert seen == [m.gen] and torch.equal(x, plain + 1.0) and torch.equal(y, y0)
    assert FSR.defaults["reward_augment"] is True


def _targets_seen(m, batch, monkeypatch):
    """The targets of every CE one FSR step computes, in order: the training loss, the margin's
    "after" side, then the meta (reward) loss of the closed form."""
    import methods.fsr as fsr_mod
    seen, orig = [], fsr_mod.soft_ce
    monkeypatch.setattr(fsr_mod, "soft_ce", lambda logits, t: seen.append(t.detach().clone()) or orig(logits, t))
    m.update(batch, StepInfo(0, 0, 0.1, 4, 10))
    return seen


def test_label_smoothing_with_mixup_is_on_the_meta_loss_only(monkeypatch):
    """As the reference (ieg/models/fsr.py): with MixUp the training loss takes the mixed one-hot
    targets, unsmoothed; the meta loss's reward targets are smoothed; the margin's after side is hard."""
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, mixup=True, label_smoothing=0.1)
    batch = batch_of(ctx)
    train, after, meta = _targets_seen(m, batch, monkeypatch)
    own = train.gather(1, batch.y[:, None]).squeeze(1)
    assert ((train > 0).sum(1) <= 2).all() and (own >= 0.5).all()      # mix >= 1/2 of its own one-hot label
    torch.testing.assert_close(train.sum(1), torch.ones(20, dtype=torch.float64))
    torch.testing.assert_close(after, F.one_hot(batch.y, 4).double())
    assert len(meta) == 8 and torch.equal(meta, F.one_hot(meta.argmax(1), 4).double() * 0.9 + 0.1 / 4)


def test_label_smoothing_without_mixup_is_on_the_training_and_meta_losses(monkeypatch):
    """Without MixUp (the long-tail script) the reference smooths both the training loss and the
    meta loss; the margin's after side keeps the hard labels."""
    torch.manual_seed(0)
    m, ctx = make_fsr(torch.float64, mixup=False, label_smoothing=0.1)
    batch = batch_of(ctx)
    train, after, meta = _targets_seen(m, batch, monkeypatch)
    torch.testing.assert_close(train, F.one_hot(batch.y, 4).double() * 0.9 + 0.1 / 4)
    torch.testing.assert_close(after, F.one_hot(batch.y, 4).double())
    assert torch.equal(meta, F.one_hot(meta.argmax(1), 4).double() * 0.9 + 0.1 / 4)
