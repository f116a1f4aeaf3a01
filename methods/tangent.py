"""Forward-mode derivative of a model's output along a parameter direction, REUSING the
activations of a forward that has already run (a "tangent-only" pass).

``torch.func.jvp`` recomputes the primal alongside the tangent: per convolution one primal
and two tangent convolutions, and BatchNorm's forward-mode rule in a dozen elementwise
passes. L2R and Meta-Weight-Net need the jvp at the parameters of their real training
forward (MWN's direction is only known after that forward and the virtual step), so the
primal part is redundant there. ``Recorder`` runs the model through its FX graph (``torch.fx``), keeping
every node's value; ``tangent(direction)`` then walks the same graph computing only
tangents, by the rules below (exact, not approximate; tests check them against
``torch.func.jvp`` on every network of bench.models):

- convolution / linear:  dy = op(dx, W) + op(x, dW, db)
- BatchNorm with batch statistics: with a = gamma / sigma, m1 = mean(dx),
  m2 = mean(dx * xhat) per channel,  dy = a dx + (dgamma - a m2) xhat + dbeta - a m1,
  folded into per-channel A, E, K:  dy = A dx + E x + K;  running statistics: dy = a dx + ...
- ReLU: dy = dx where y > 0;  add: dy = da + db;  indexing, zero padding, mean, flatten,
  view, ...: the same (linear) op on the tangent.

A graph with any other operation is refused at construction (``UnsupportedGraph``);
``recorder_or_none`` then warns once and callers use ``torch.func.jvp``
(methods.functional.loss_jvp). ``ce_tangent`` turns the logits' tangent into the per-sample
cross-entropy's.
"""
from __future__ import annotations

import operator
import warnings

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from .precision import at_least_fp32


class UnsupportedGraph(Exception):
    pass


# Operations linear in their first tensor argument: the tangent is the same call on it.
LINEAR_FUNCTIONS = {operator.getitem, F.pad, torch.flatten, torch.mean, torch.sum, torch.reshape,
                    F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, operator.neg}
LINEAR_METHODS = {"mean", "sum", "flatten", "view", "reshape", "squeeze", "unsqueeze", "permute",
                  "transpose", "contiguous", "__getitem__"}
LINEAR_MODULES = (nn.Flatten, nn.Identity, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                  nn.AdaptiveAvgPool2d)
RELU = {F.relu, torch.relu}


def _arg(node: torch.fx.Node, i: int, name: str, default):
    return node.kwargs.get(name, node.args[i] if len(node.args) > i else default)


def _supported(node: torch.fx.Node, modules: dict) -> bool:
    if node.op in ("placeholder", "output", "get_attr"):
        return node.op != "get_attr"   # parameters are reached through their modules only
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.ReLU) and m.inplace and len(node.args[0].users) > 1:
            return False               # another user would see the rectified values
        return isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.ReLU, nn.modules.batchnorm._BatchNorm,
                              *LINEAR_MODULES))
    if node.op == "call_function":
        if node.target is F.pad:
            return _arg(node, 2, "mode", "constant") == "constant" and not _arg(node, 3, "value", None)
        if node.target is torch.add:
            return not node.kwargs
        return node.target in LINEAR_FUNCTIONS or node.target in RELU or node.target is operator.add
    if node.op == "call_method":
        return node.target in LINEAR_METHODS or node.target == "relu"
    return False


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
        bad = [n.format_node() for n in graph.nodes if not _supported(n, self.modules)]
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
            elif node.op == "call_module":
                m = self.modules[node.target]
                x = node.args[0]
                tan[node] = self._module(m, node.target, primal(x), tan[x], env[node].detach(), direction)
            elif node.target in (operator.add, torch.add):
                ts = [tan.get(a) if isinstance(a, torch.fx.Node) else None for a in node.args[:2]]
                ts = [t for t in ts if t is not None]
                tan[node] = None if not ts else ts[0] if len(ts) == 1 else ts[0] + ts[1]
            elif node.target in RELU or node.target == "relu":
                t = tan[node.args[0]]
                tan[node] = None if t is None else torch.ops.aten.threshold_backward(t, env[node].detach(), 0)
            else:  # linear in its first argument
                t = tan[node.args[0]]
                rest = torch.fx.node.map_arg(node.args[1:], primal)
                kwargs = torch.fx.node.map_arg(node.kwargs, primal)
                if t is None:
                    tan[node] = None
                elif node.op == "call_method":
                    tan[node] = getattr(t, node.target)(*rest, **kwargs)
                else:
                    tan[node] = node.target(t, *rest, **kwargs)
            for dead in self.dead_after[node]:
                tan.pop(dead, None)
                if not keep:
                    env.pop(dead, None)

    @staticmethod
    def _module(m, name, x, dx, y, direction):
        d = lambda p: direction.get(f"{name}.{p}" if name else p)
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            dW, db = d("weight"), d("bias") if m.bias is not None else None
            op = (lambda inp, w, b: F.linear(inp, w, b)) if isinstance(m, nn.Linear) else m._conv_forward
            terms = []
            if dx is not None:
                terms.append(op(dx, m.weight.detach(), None))
            if dW is not None:
                terms.append(op(x, dW, db))
            elif db is not None:
                shape = [1, -1] + [1] * (y.dim() - 2)
                terms.append(db.view(shape).expand_as(y))
            if not terms:
                return None
            return terms[0] if len(terms) == 1 else terms[0].add_(terms[1])
        if isinstance(m, nn.ReLU):
            return None if dx is None else torch.ops.aten.threshold_backward(dx, y, 0)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return Recorder._batch_norm(m, x, dx, d("weight"), d("bias"))
        return None if dx is None else m(dx)   # LINEAR_MODULES

    @staticmethod
    def _batch_norm(m, x, dx, dgamma, dbeta):
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
            s_xhat, s = _channel_sums(dx, x, mu, invstd)   # n mean(dx xhat), n mean(dx)
            E = E - a * invstd * s_xhat / n
            K = K - a * s / n
        out = torch.addcmul((K - E * mu).view(shape), x, E.view(shape))
        return out if dx is None else out.addcmul_(dx, a.view(shape))


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
