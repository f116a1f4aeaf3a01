"""Captured training steps (``compile``): a method's whole ``train_step``, the optimiser's step
included, compiled with ``torch.compile``, so that a small network's step is a few fused kernels
(and, on CUDA, replayed CUDA graphs: mode ``reduce-overhead``) instead of hundreds of launches.

The harness knows no method here either: it replaces ``method.train_step`` by a ``CapturedStep``,
which ``Method.update`` then calls as before. What a capture needs of the method is generic:
the optimisers' learning rates become 0-d tensors on the device, written in place each step
(``Method.update``), so that the schedule changes no compiled graph; the step's numbers
(``StepInfo``) are traced as symbolic values after their first change (Dynamo's automatic
dynamic), not recompiled each step.

A method that cannot be captured (the compiler raises during its first step, e.g. MWN's
double backward through a compiled graph) is put back to the state it had before that step
(one copy of its state, taken once) and runs eagerly; ``record()`` says which ran and why, and
the trial's row keeps it (``extra.effective.compile``). Dynamo's own counters (graphs, graph
breaks, recompilations) go there too: a step broken into many graphs gains less.

Settings (``compile``): "off" (default); "on": the inductor backend, ``reduce-overhead`` on
CUDA; "aot_eager": the same tracing and autograd capture without code generation (a check of
the capture, no speed-up: what the CPU tests run for every method). "auto" is "off" until a
lent GPU shows the capture exact and faster there (ON_CUDA_BY_DEFAULT).
"""
from __future__ import annotations

import copy

import torch

from . import checkpoint

SETTINGS = ("off", "on", "aot_eager", "auto")
#: "auto" turns capture on for CUDA trials once a device check has shown it exact and faster
#: (issue 24's device script); until then "auto" is "off"
ON_CUDA_BY_DEFAULT = False


def wanted(setting, device: torch.device) -> str | None:
    """The backend a trial with ``compile=setting`` captures its step with, or None (eager)."""
    if setting not in SETTINGS:
        raise ValueError(f"compile must be one of {', '.join(SETTINGS)}, not {setting!r}")
    if setting == "auto":
        return "inductor" if device.type == "cuda" and ON_CUDA_BY_DEFAULT else None
    return {"off": None, "on": "inductor", "aot_eager": "aot_eager"}[setting]


def tensor_lrs(method) -> None:
    """The model's optimiser (the one whose learning rate the schedule sets each step) with its
    learning rate as a 0-d tensor on the parameters' device: a compiled step reads it rather than
    baking in the first step's value. A method's other optimisers keep a fixed float."""
    for group in method.opt.param_groups:
        if not torch.is_tensor(group["lr"]):
            device = group["params"][0].device if group["params"] else torch.device("cpu")
            group["lr"] = torch.tensor(float(group["lr"]), device=device)


def _dynamo_counts() -> dict:
    from torch._dynamo.utils import counters

    return dict(graphs=int(counters["stats"].get("unique_graphs", 0)),
                graph_breaks=int(sum(counters["graph_break"].values())),
                recompiles=int(sum(counters["recompiles"].values())))


class CapturedStep:
    """``method.train_step`` compiled with ``backend``; falls back to eager, once, at a compiler
    error in the first step (``gen``: the harness's generator, restored with the method)."""

    def __init__(self, method, backend: str, device: torch.device, gen: torch.Generator | None = None):
        import torch._dynamo

        torch._dynamo.reset()   # a fresh cache: no earlier trial's guards count against the recompile limit
        self.method, self.eager, self.backend, self.gen = method, method.train_step, backend, gen
        self.cuda_graphs = device.type == "cuda" and backend == "inductor"
        tensor_lrs(method)
        self.compiled = self.compile_like(self.eager)
        self.ran, self.why, self.steps = "compiled", "", 0
        self.counts = dict.fromkeys(_dynamo_counts(), 0)   # Dynamo's counters are per process: this step's own share

    def compile_like(self, fn):
        """``fn`` compiled as the step is (a cost floor's extra forward: bench.costs.stepper)."""
        return torch.compile(fn, backend=self.backend, mode="reduce-overhead" if self.cuda_graphs else None)

    def __call__(self, batch, info) -> dict:
        if self.ran == "eager":
            return self.eager(batch, info)
        tensor_lrs(self.method)   # again after a checkpoint's optimiser state put a float back
        if self.steps == 0:
            saved = copy.deepcopy((self.method.state_dict(),
                                   checkpoint.rng_state(self.gen) if self.gen is not None else None))
            try:
                out = self._run(batch, info)
            except Exception as exc:   # the compiler could not capture it: the method runs eagerly
                self.method.load_state_dict(saved[0])
                if saved[1] is not None:
                    checkpoint.set_rng_state(self.gen, saved[1])
                self.ran, self.why = "eager", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                return self.eager(batch, info)
        else:
            out = self._run(batch, info)
        self.steps += 1
        return out

    def _run(self, batch, info) -> dict:
        if self.cuda_graphs:   # a new step: the graphs' outputs of the last one may be overwritten ...
            torch.compiler.cudagraph_mark_step_begin()
        before = _dynamo_counts()
        try:
            out = self.compiled(batch, info)
        finally:
            after = _dynamo_counts()
            for k in self.counts:
                self.counts[k] += after[k] - before[k]
        if self.cuda_graphs:   # ... so what the harness keeps past this step is copied out
            out = {k: v.clone() if torch.is_tensor(v) else v for k, v in out.items()}
        return out

    def record(self) -> dict:
        """What ran: the setting's backend, compiled or eager (and why), Dynamo's counts for this
        step (graphs compiled, graph breaks, recompilations)."""
        out = dict(backend=getattr(self.backend, "__name__", str(self.backend)),
                   mode="reduce-overhead" if self.cuda_graphs else "default", ran=self.ran, **self.counts)
        if self.why:
            out["why"] = self.why
        return out


def capture(method, setting, device: torch.device, gen: torch.Generator | None = None) -> CapturedStep | None:
    """Capture ``method``'s step as ``setting`` asks (``method.train_step`` replaced); None: eager."""
    backend = wanted(setting, device)
    if backend is None:
        return None
    step = CapturedStep(method, backend, device, gen)
    method.train_step = step
    return step
