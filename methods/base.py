"""The one small interface every method implements, and what the harness hands to it.

A method owns its model's optimiser (and any of its own); the harness owns data, schedule,
evaluation and metrics, and knows nothing of any particular method.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F

from ._precision import scaled_grad
from .domains import Domain, Like, show


@dataclass
class Batch:
    x: torch.Tensor          # augmented inputs
    y: torch.Tensor          # observed (possibly noisy) labels
    idx: torch.Tensor        # indices into the training set (for per-sample state)


@dataclass
class StepInfo:
    epoch: int               # 0-based
    step: int                # global step, 0-based
    lr: float                # the schedule's learning rate for this step
    epochs: int
    steps_per_epoch: int


#: the SGD settings every method's optimiser takes unless the run gives others (the paper's noise setting)
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False)


@dataclass
class Context:
    """What a method may know of the run. ``reward_*`` is the clean reward set (empty unless
    the suite sets one aside); ``train_x``/``train_y`` are the whole training set with observed
    labels (FSR draws its dictionary from them); ``augment(x, generator=None)`` is the harness's
    batch augmentation (a method passes its own generator, so the harness's draws stay as they are);
    ``seed`` is the trial's seed, from which ``stream(name)`` hands out a method's own generators."""

    num_classes: int
    class_counts: torch.Tensor
    num_train: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    optim: dict = field(default_factory=lambda: dict(SGD))
    train_x: torch.Tensor | None = None
    train_y: torch.Tensor | None = None
    reward_x: torch.Tensor | None = None
    reward_y: torch.Tensor | None = None
    augment: Callable[..., torch.Tensor] = lambda x, generator=None: x
    seed: int = 0
    device: torch.device = torch.device("cpu")
    scaler: Any = None       # fp16: the torch.amp.GradScaler of the step (methods._precision)

    def stream(self, name: str) -> torch.Generator:
        """A fresh CPU generator for the random stream ``name``, seeded from the trial's seed and
        the name alone (``stream_offset``): a method's draws never touch the harness's, and
        adding a stream changes no other."""
        return torch.Generator().manual_seed(self.seed + stream_offset(name))


#: the fixed offset past the trial's seed of each built-in method's random stream, declared once;
#: an offset is never changed or reused by a new stream of the same method (the numbers drawn
#: from a stream follow from it). Streams of methods that never run together may share one.
STREAMS = {
    "fsr": 7919,             # FSR's dictionary, reward augmentation and MixUp draws
    "l2r.reward": 7919,      # L2R's reward-set order and augmentation
    "mwn.reward": 104729,    # MWN's meta-set order and augmentation
    "gce.prune": 104729,     # truncated GCE's augmentation of the pruning pass
}


def stream_offset(name: str) -> int:
    """``name``'s offset in ``STREAMS``; a stream not declared there (a user's method) takes one
    derived from its name (stable across runs and machines, below 2^32)."""
    if name in STREAMS:
        return STREAMS[name]
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


class Method:
    """Subclasses set ``defaults`` (their hyper-parameters) and ``domains`` (the valid values of
    each, methods.domains: checked before a sweep and when the method is built) and implement
    ``train_step``.

    ``train_step`` returns a dict of floats or 0-d tensors for the curves (tensors: no host
    sync per step on a GPU; the harness sums them on the device); it may also return ``"weights"``,
    a tensor of the batch's per-sample weights, which the harness turns into the weight
    diagnostics (zero-weight ratio, purity, AUROC). ``on_epoch_end`` may return
    ``"dictionary"``, training-set indices, whose purity the harness measures.
    """

    defaults: ClassVar[dict[str, Any]] = {}
    needs_reward: ClassVar[bool] = False
    #: what a checkpoint keeps beyond the model and its optimiser: attribute names of tensors,
    #: generators, modules, optimisers, objects with state_dict(), or plain values (an attribute
    #: a configuration does not create is skipped)
    state_attrs: ClassVar[tuple[str, ...]] = ()
    #: a step's rough cost as a multiple of plain softmax's (measured on CPU); a sweep only uses
    #: it to start its longest trials first, so that no core idles at the end
    relative_cost: ClassVar[float] = 1.0

    #: old hyper-parameter names -> today's (one name per concept across methods); an old one
    #: is refused with a hint
    renamed: ClassVar[dict[str, str]] = {}

    #: the valid values of each hyper-parameter (methods.domains); one left out is only
    #: checked to be of its default's kind
    domains: ClassVar[dict[str, Domain]] = {}

    #: the hyper-parameters worth tuning and the ranges a tuning run draws them from
    #: (methods.spaces; bench.sweep.tune): each key is one of ``defaults``, each range inside its domain
    search_space: ClassVar[dict] = {}

    def __init__(self, model: torch.nn.Module, ctx: Context, **hparams):
        self.hp = self.check_hparams(hparams)
        self.model, self.ctx = model, ctx
        if self.needs_reward and (ctx.reward_x is None or len(ctx.reward_x) == 0):
            raise ValueError(f"{type(self).__name__} needs a clean reward set (reward_per_class > 0)")
        self.opt = self.make_optimizer(model.parameters())

    @classmethod
    def domain(cls, name: str) -> Domain:
        return cls.domains.get(name) or Like(cls.defaults[name])

    @classmethod
    def check_hparams(cls, hparams: dict, who: str | None = None) -> dict:
        """The hyper-parameters ``hparams`` over the defaults, each checked against its domain
        (and, ``check_together``, against each other); a bad one raises ValueError, one line
        naming it as ``who.NAME`` (who: the method's name, by default its class's, lower case)."""
        who = who or cls.__name__.lower()
        old = [k for k in hparams if k in cls.renamed]
        if old:
            raise ValueError(f"{who}: hyper-parameter {old[0]!r} is now called {cls.renamed[old[0]]!r}")
        unknown = set(hparams) - set(cls.defaults)
        if unknown:
            raise ValueError(f"{who}: unknown hyper-parameter(s) {sorted(unknown)}; known: {sorted(cls.defaults)}")
        hp = {**cls.defaults, **hparams}
        for name, value in hp.items():
            if not cls.domain(name).contains(value):
                raise ValueError(f"{who}.{name}={show(value)} is out of range: {cls.domain(name)}")
        cls.check_together(hp, who)
        return hp

    @classmethod
    def check_together(cls, hp: dict, who: str) -> None:
        """Raise ValueError where hyper-parameters, each in its domain, do not go together."""

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        o = self.ctx.optim
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"],
                               weight_decay=o["weight_decay"], nesterov=o.get("nesterov", False))

    def update(self, batch: Batch, info: StepInfo) -> dict:
        for group in self.opt.param_groups:
            if torch.is_tensor(group["lr"]):   # a captured step's (bench.trial.capture): written in place
                group["lr"].fill_(info.lr)
            else:
                group["lr"] = info.lr
        return self.train_step(batch, info)

    def train_step(self, batch: Batch, info: StepInfo) -> dict:
        raise NotImplementedError

    def on_epoch_end(self, epoch: int) -> dict:
        return {}

    def effective(self) -> dict:
        """The values the method computed from its hyper-parameters and the run, where they differ
        in kind or value from what was asked (FSR: its dictionary's size after its caps); each
        row keeps them (``extra.effective.hparams``)."""
        return {}

    def sgd_step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        scaler = self.ctx.scaler
        if scaler is None:
            loss.backward()
            self.opt.step()
            return
        scaler.scale(loss).backward()
        scaler.step(self.opt)
        scaler.update()

    def grad(self, outputs, inputs, grad_outputs=None, **kwargs):
        """``torch.autograd.grad`` for a meta-gradient, loss-scaled under fp16."""
        return scaled_grad(self.ctx.scaler, outputs, inputs, grad_outputs, **kwargs)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def state_dict(self) -> dict:
        """Everything that a resumed run needs to continue exactly as an uninterrupted one."""
        out = {"model": self.model.state_dict(), "opt": self.opt.state_dict()}
        out.update({name: _save(getattr(self, name)) for name in self.state_attrs if hasattr(self, name)})
        return out

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        for name in self.state_attrs:
            if hasattr(self, name):
                setattr(self, name, _load(getattr(self, name), state[name]))


def _save(value):
    if isinstance(value, torch.Generator):
        return {"generator_state": value.get_state()}
    if hasattr(value, "state_dict"):      # modules, optimisers, samplers
        return value.state_dict()
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


def _load(current, saved):
    if isinstance(current, torch.Generator):
        current.set_state(saved["generator_state"])
        return current
    if hasattr(current, "load_state_dict"):
        current.load_state_dict(saved)
        return current
    if isinstance(current, torch.Tensor):
        return saved.to(current.device)
    return saved


def per_sample_ce(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none", label_smoothing=label_smoothing)


def soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy with a probability-vector target."""
    return -(target * F.log_softmax(logits, 1)).sum(1)


def smooth_onehot(y: torch.Tensor, num_classes: int, smoothing: float, dtype) -> torch.Tensor:
    """One-hot targets, label-smoothed by ``smoothing`` (none at 0)."""
    t = F.one_hot(y, num_classes).to(dtype)
    return t * (1 - smoothing) + smoothing / num_classes if smoothing else t
