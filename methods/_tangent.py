"""Forward-mode derivative of a model's output along a parameter direction, REUSING the
activations of a forward that has already run (a "tangent-only" pass).

``torch.func.jvp`` recomputes the primal alongside the tangent: per convolution one primal
and two tangent convolutions, and BatchNorm's forward-mode rule in a dozen elementwise
passes. L2R and Meta-Weight-Net need the jvp at the parameters of their real training
forward (MWN's direction is only known after that forward and the virtual step), so the
primal part is redundant there. ``Recorder`` runs the model through its FX graph (``torch.fx``), keeping
every node's value; ``tangent(direction)`` then walks the same graph computing only
tangents, by the rules below (exact, not approximate; tests check them against
``torch.func.jvp`` on every network of bench.trial.models):

- convolution / linear:  dy = op(dx, W) + op(x, dW, db)
- BatchNorm with batch statistics: with a = gamma / sigma, m1 = mean(dx),
  m2 = mean(dx * xhat) per channel,  dy = a dx + (dgamma - a m2) xhat + dbeta - a m1,
  folded into per-channel A, E, K:  dy = A dx + E x + K;  running statistics: dy = a dx + ...
- ReLU: dy = dx where y > 0;  add: dy = da + db;  indexing, zero padding, mean, flatten,
  view, ...: the same (linear) op on the tangent.

Each supported operation and its rule sit side by side in one table (``MODULE_RULES``,
``FUNCTION_RULES``, ``METHOD_RULES``; a rule's ``check`` narrows what it covers, e.g. zero
padding only). A graph with any other operation is refused at construction (``UnsupportedGraph``);
``recorder_or_none`` then warns once and callers use ``torch.func.jvp``
(methods._functional.loss_jvp). ``ce_tangent`` turns the logits' tangent into the per-sample
cross-entropy's.
"""
from __future__ import annotations

import operator
import warnings
from typing import Callable, NamedTuple

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from ._precision import at_least_fp32


class UnsupportedGraph(Exception):
    pass


def _arg(node: torch.fx.Node, i: int, name: str, default):
    return node.kwargs.get(name, node.args[i] if len(node.args) > i else default)


# ---------------------------------------------------------------- the rules
class Site(NamedTuple):
    """What a rule sees of one node: its positional inputs' values ``xs`` and tangents ``dxs``
    (None: zero), its keyword inputs' values, its output's value ``y``, the direction."""
    node: torch.fx.Node
    xs: tuple
    dxs: tuple
    kwargs: dict
    y: torch.Tensor
    direction: dict
    modules: dict

    def module(self):
        return self.modules[self.node.target]

    def param(self, name):
        prefix = self.node.target
        return self.direction.get(f"{prefix}.{name}" if prefix else name)


class Rule(NamedTuple):
    """``tangent(site)``: the node's output tangent (None: zero); ``check(node, modules)``: whether
    the node, as traced, is one the rule covers (else the graph is refused at construction)."""
    tangent: Callable
    check: Callable = lambda node, modules: True


def _same_op(s: Site):
    """An operation linear in its first argument: the same call on the tangent."""
    dx = s.dxs[0]
    if dx is None:
        return None
    if s.node.op == "call_method":
        return getattr(dx, s.node.target)(*s.xs[1:], **s.kwargs)
    if s.node.op == "call_module":
        return s.module()(dx)
    return s.node.target(dx, *s.xs[1:], **s.kwargs)


def _relu(s: Site):
    return None if s.dxs[0] is None else torch.ops.aten.threshold_backward(s.dxs[0], s.y, 0)


def _add(s: Site):
    ts = [t for t in s.dxs[:2] if t is not None]
    return None if not ts else ts[0] if len(ts) == 1 else ts[0] + ts[1]


def _layer(s: Site):
    """Convolution / linear: dy = op(dx, W) + op(x, dW, db)."""
    m, x, dx, y = s.module(), s.xs[0], s.dxs[0], s.y
    dW, db = s.param("weight"), s.param("bias") if m.bias is not None else None
    op = (lambda inp, w, b: F.linear(inp, w, b)) if isinstance(m, nn.Linear) else m._conv_forward
    terms = []
    if dx is not None:
        terms.append(op(dx, m.weight.detach(), None))
    if dW is not None:
        terms.append(op(x, dW, db))
    elif db is not None:
        terms.append(db.view([1, -1] + [1] * (y.dim() - 2)).expand_as(y))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else terms[0].add_(terms[1])


def _batch_norm(s: Site):
    """BatchNorm: dy = A dx + E x + K per channel (the module docstring's rule)."""
    m, x, dx = s.module(), s.xs[0], s.dxs[0]
    dgamma, dbeta = s.param("weight"), s.param("bias")
    shape = [1, -1] + [1] * (x.dim() - 2)
    batch_stats = m.training or (m.running_mean is None and m.running_var is None)
    if batch_stats:
        n = x.numel() // x.shape[1]
        mu = x.sum([0] + list(range(2, x.dim()))) / n
        var = _channel_sums(x, x, mu, torch.ones_like(mu))[0] / n   # sum (x - mu)^2, two-pass
    else:
        mu, var = m.running_mean, m.running_var
    invstd = torch.rsqrt(var + m.eps)
    a = m.weight.detach() * invstd if m.affine else invstd
    # dy = A dx + E x + K per channel, with xhat = invstd (x - mu)
    E = torch.zeros_like(a) if dgamma is None else dgamma * invstd
    K = torch.zeros_like(a) if dbeta is None else dbeta.clone()
    if dx is not None and batch_stats:
        s_xhat, s_dx = _channel_sums(dx, x, mu, invstd)   # n mean(dx xhat), n mean(dx)
        E = E - a * invstd * s_xhat / n
        K = K - a * s_dx / n
    out = torch.addcmul((K - E * mu).view(shape), x, E.view(shape))
    return out if dx is None else out.addcmul_(dx, a.view(shape))


def _relu_not_shared(node, modules) -> bool:
    """An in-place ReLU whose input has another user would show it the rectified values."""
    return not (modules[node.target].inplace and len(node.args[0].users) > 1)


def _zero_pad(node, modules) -> bool:
    return _arg(node, 2, "mode", "constant") == "constant" and not _arg(node, 3, "value", None)


LINEAR = Rule(_same_op)
#: each supported operation with its rule: module types (matched with isinstance), functions, tensor methods
MODULE_RULES = {nn.Conv1d: Rule(_layer), nn.Conv2d: Rule(_layer), nn.Linear: Rule(_layer),
                nn.modules.batchnorm._BatchNorm: Rule(_batch_norm), nn.ReLU: Rule(_relu, _relu_not_shared),
                **dict.fromkeys((nn.Flatten, nn.Identity, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                                 nn.AdaptiveAvgPool2d), LINEAR)}
FUNCTION_RULES = {operator.add: Rule(_add), torch.add: Rule(_add, lambda node, modules: not node.kwargs),
                  F.relu: Rule(_relu), torch.relu: Rule(_relu), F.pad: Rule(_same_op, _zero_pad),
                  **dict.fromkeys((operator.getitem, operator.neg, torch.flatten, torch.mean, torch.sum,
                                   torch.reshape, F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d,
                                   F.adaptive_avg_pool2d), LINEAR)}
METHOD_RULES = {"relu": Rule(_relu),
                **dict.fromkeys(("mean", "sum", "flatten", "view", "reshape", "squeeze", "unsqueeze", "permute",
                                 "transpose", "contiguous", "__getitem__"), LINEAR)}


def rule_for(node: torch.fx.Node, modules: dict) -> Rule | None:
    """The node's rule where the tangent pass covers it as traced, else None."""
    if node.op == "call_module":
        rule = next((r for t, r in MODULE_RULES.items() if isinstance(modules[node.target], t)), None)
    elif node.op == "call_function":
        rule = FUNCTION_RULES.get(node.target)
    elif node.op == "call_method":
        rule = METHOD_RULES.get(node.target)
    else:
        return None
    return rule if rule is not None and rule.check(node, modules) else None


class Recorder:
    """``forward(x)`` runs ``model`` node by node (autograd as usual, BatchNorm statistics
    updated as in ``model(x)``) and keeps each node's value; ``tangent(direction)`` is the
    derivative of that output along ``direction`` ({parameter name: tensor}; parameters not
    named have zero tangent) at the recorded point. Modules are the model's own (no copy)."""

    def __init__(self, model: nn.Module):
        try:
            graph = torch.fx.Tracer().trace(model)
        except Exception as e:  # noqa: BLE001 (any tracing failure means: not supported)
            raise UnsupportedGraph(f"torch.fx cannot trace {type(model).__name__}: {e}") from e
        self.model, self.graph = model, graph
        self.modules = dict(model.named_modules())
        self.rules = {n: rule_for(n, self.modules) for n in graph.nodes if n.op not in ("placeholder", "output")}
        bad = [n.format_node() for n, r in self.rules.items() if r is None]
        if bad:
            raise UnsupportedGraph(f"no tangent rule for: {bad[0]}")
        if sum(n.op == "placeholder" for n in graph.nodes) != 1:
            raise UnsupportedGraph("the forward must take exactly one input")
        # a node's tangent is dropped right after its last user's (peak memory ~ one forward's)
        last_use = {}
        for node in graph.nodes:
            for a in node.all_input_nodes:
                last_use[a] = node
        self.dead_after = {n: [a for a, last in last_use.items() if last is n] for n in graph.nodes}
        self.env: dict | None = None

    # ---------------------------------------------------------------- primal
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {}
        load = lambda a: torch.fx.node.map_arg(a, lambda n: env[n])
        for node in self.graph.nodes:
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "call_module":
                env[node] = self.modules[node.target](*load(node.args), **load(node.kwargs))
            elif node.op == "call_function":
                env[node] = node.target(*load(node.args), **load(node.kwargs))
            elif node.op == "call_method":
                self_, *rest = load(node.args)
                env[node] = getattr(self_, node.target)(*rest, **load(node.kwargs))
            else:  # output
                out = load(node.args[0])
        self.env = env
        return out

    # ---------------------------------------------------------------- tangent
    @torch.no_grad()
    def tangent(self, direction: dict, keep: bool = False) -> torch.Tensor:
        """The output's tangent at the last ``forward``; the recorded values are released
        afterwards unless ``keep``."""
        if self.env is None:
            raise RuntimeError("Recorder.tangent without a recorded forward")
        env, tan = self.env, {}
        if not keep:
            self.env = None
        primal = lambda n: env[n].detach() if isinstance(n, torch.fx.Node) else n
        for node in self.graph.nodes:
            if node.op == "placeholder":
                tan[node] = None
            elif node.op == "output":
                out = tan[node.args[0]]
                return torch.zeros_like(env[node.args[0]]) if out is None else out
            else:
                site = Site(node, tuple(torch.fx.node.map_arg(node.args, primal)),
                            tuple(tan.get(a) if isinstance(a, torch.fx.Node) else None for a in node.args),
                            torch.fx.node.map_arg(node.kwargs, primal), env[node].detach(), direction, self.modules)
                tan[node] = self.rules[node].tangent(site)
            for dead in self.dead_after[node]:
                tan.pop(dead, None)
                if not keep:
                    env.pop(dead, None)


def _channel_sums(g, x, mean, invstd):
    """Per channel, (sum g * (x - mean) * invstd, sum g) over every other dimension: the two
    reductions of BatchNorm's backward, by its fused kernel (no temporaries; an einsum or
    var_mean over (N, H, W) costs about 20 x more on a CPU)."""
    ones = torch.ones_like(mean)   # a weight (unused by these two outputs; CUDA's kernel wants one)
    _, s_xhat, s = torch.ops.aten.native_batch_norm_backward(
        g, x, ones, None, None, mean, invstd, True, 0.0, [False, True, True])
    return s_xhat, s


META_GRADS = ("jvp", "func_jvp", "double_backprop")


def recorder_or_none(model: nn.Module, who: str) -> Recorder | None:
    try:
        return Recorder(model)
    except UnsupportedGraph as e:
        warnings.warn(f"{who}: no tangent-only pass for this network ({e}); using torch.func.jvp")
        return None


def recorder_for(model: nn.Module, meta_grad: str, who: str) -> Recorder | None:
    """A look-ahead method's ``meta_grad`` hyper-parameter checked, and its Recorder: only for
    "jvp" on a supported graph (else None: torch.func.jvp or double back-propagation)."""
    if meta_grad not in META_GRADS:
        raise ValueError(f"{who}: meta_grad must be one of {META_GRADS}, not {meta_grad!r}")
    return recorder_or_none(model, who) if meta_grad == "jvp" else None


def ce_tangent(logits: torch.Tensor, y: torch.Tensor, dlogits: torch.Tensor) -> torch.Tensor:
    """d CE(logits_i, y_i) along dlogits_i, per sample: (softmax(logits_i) - onehot(y_i)) . dlogits_i."""
    p, dlogits = torch.softmax(at_least_fp32(logits.detach()), 1), at_least_fp32(dlogits)   # fp32 under autocast
    return (p * dlogits).sum(1) - dlogits.gather(1, y[:, None]).squeeze(1)
