"""Small torch.func helpers shared by the look-ahead (meta-gradient) methods.

- ``meta_parameter_names``: which parameters take part in a look-ahead ("meta layers").
- ``fcall``: the model as a function of explicit parameters. By default every buffer is
  replaced by ``None``, so BatchNorm uses batch statistics and neither reads nor writes the
  real running statistics (what a meta pass needs).
- ``frozen_bn_stats``: BatchNorm layers use batch statistics and leave the running ones alone.
- ``loss_jvp``: the per-sample loss vector and its directional derivative along a parameter
  direction, in one forward-mode pass: ``tangent_i = grad l_i(theta) . direction``. With
  ``update_stats=True`` the pass also updates BatchNorm running statistics exactly as a
  plain training forward would, so its primal output can serve the real step.
"""
from __future__ import annotations

import contextlib

import torch
from torch.func import functional_call, jvp

from .base import per_sample_ce, soft_ce
from .domains import Choice, Int, ListOf, Text

#: the values ``meta_layers`` may take (L2R, MWN and FSR alike); whether a model has k modules
#: or a prefix is the model's to say (meta_parameter_names)
META_LAYERS = (Choice("fc", "all") | Int(1) | Text("module-name prefixes (comma-separated)")
               | ListOf(Text(), "a list of module-name prefixes"))


def meta_parameter_names(model: torch.nn.Module, meta_layers="all") -> list[str]:
    """``"all"``; ``"fc"`` (the last linear layer); an int k (the last k modules that own
    parameters); or module-name prefixes as a list or a comma-separated string."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if meta_layers == "all":
        return names
    if isinstance(meta_layers, int):
        owners = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
        if not 1 <= meta_layers <= len(owners):
            raise ValueError(f"meta_layers={meta_layers}: the model has {len(owners)} parameterised modules")
        keep = set(owners[-meta_layers:])
        return [n for n in names if n.rsplit(".", 1)[0] in keep]
    prefixes = meta_layers.split(",") if isinstance(meta_layers, str) else list(meta_layers)
    prefixes = [p.strip().rstrip(".") for p in prefixes if p.strip()]
    chosen = [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]
    if not chosen:
        raise ValueError(f"meta_layers={meta_layers!r} matches no parameter")
    return chosen


def named_subset(model: torch.nn.Module, names) -> dict:
    """The model's parameters called ``names``, as a name -> tensor dict (live, not copies)."""
    params = dict(model.named_parameters())
    return {n: params[n] for n in names}


def fcall(model: torch.nn.Module, params: dict, x: torch.Tensor, buffers: dict | None = None) -> torch.Tensor:
    """``model(x)`` with ``params`` (a dict of some or all parameters) substituted. With
    ``buffers=None`` all buffers are ``None``: BatchNorm runs on batch statistics and the
    model's running statistics are neither read nor changed."""
    if buffers is None:
        buffers = {n: None for n, _ in model.named_buffers()}
    return functional_call(model, {**params, **buffers}, (x,), strict=False)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """The model in eval mode (BatchNorm on running statistics), its mode restored after."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


@contextlib.contextmanager
def frozen_bn_stats(model: torch.nn.Module):
    """BatchNorm layers use batch statistics and leave their running statistics untouched."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.track_running_stats for m in bns]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, s in zip(bns, saved):
            m.track_running_stats = s


def loss_jvp(model, x, y, params: dict, direction: dict, update_stats: bool = False):
    """Per-sample CE at ``params`` and its derivative along ``direction`` (same keys),
    by forward mode. Parameters not in ``params`` are constants for the derivative (but
    stay in the autograd graph of the returned loss, as ``params`` do).

    ``update_stats=True``: BatchNorm running means/variances are passed as primals (zero
    tangent) and updated in place as in ``model(x)``; ``num_batches_tracked`` is incremented
    here too. Otherwise the pass leaves every buffer untouched."""
    keys = list(params)
    if update_stats:
        stats = {n: b for n, b in model.named_buffers() if b.is_floating_point()}
        others = {n: None for n, b in model.named_buffers() if not b.is_floating_point()}
    else:
        stats, others = {}, {n: None for n, _ in model.named_buffers()}

    def per_sample(p, s):
        return per_sample_ce(fcall(model, p, x, {**s, **others}), y)

    loss, tangent = jvp(per_sample, (params, stats),
                        ({k: direction[k] for k in keys}, {n: torch.zeros_like(b) for n, b in stats.items()}))
    if update_stats:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.num_batches_tracked is not None:
                m.num_batches_tracked.add_(1)
    return loss, tangent


def deep_lookahead(model, directions: dict, alpha, wd, train, reward, after):
    """FSR's look-ahead on the parameters named in ``directions`` (deeper than the last layer) by
    torch.func, at theta' = theta - alpha * directions (the optimiser's update directions).

    ``train`` (x, soft targets), ``reward`` (x_r, t_r) or None in the warm-up, ``after`` (x, targets)
    of the meta-margin's "after" side. With eps_i = 1/B,
    d L_meta(theta') / d eps_i = -alpha * grad CE_i(theta) . grad L_meta(theta'), the per-sample
    products as one jvp of the per-sample losses; the meta loss carries wd / 2 |theta'|^2.
    BatchNorm runs on batch statistics, the running ones untouched.
    Returns (eps-gradient (B,) or None, meta loss or None, the per-sample CE after)."""
    from torch.func import grad as fgrad

    named = dict(model.named_parameters())
    names = list(directions)
    theta = {n: named[n].detach() for n in names}
    theta_la = {n: theta[n] - alpha * d for n, d in directions.items()}
    rest = {n: q.detach() for n, q in named.items() if n not in theta}
    rest.update(dict(model.named_buffers()))
    call = lambda params, inp: functional_call(model, {**rest, **params}, (inp,))
    with frozen_bn_stats(model):
        with torch.no_grad():
            ce_after = soft_ce(call(theta_la, after[0]), after[1])
        if reward is None:
            return None, None, ce_after
        x_r, t_r = reward
        meta_fn = lambda params: (soft_ce(call(params, x_r), t_r).mean()
                                  + 0.5 * wd * sum(q.pow(2).sum() for q in params.values()))
        G = fgrad(meta_fn)(theta_la)
        with torch.no_grad():
            meta_loss = meta_fn(theta_la)
        per_sample = lambda params: soft_ce(call(params, train[0]), train[1])
        _, dots = jvp(per_sample, (theta,), ({n: G[n] for n in names},))
    return -alpha * dots.detach(), meta_loss, ce_after
