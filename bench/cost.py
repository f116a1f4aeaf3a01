"""Per-step cost of a method: median seconds per training step and peak memory, on fixed
synthetic inputs, each also as a ratio to plain softmax on the same network and batch.

Two entry points:

- ``measure(config) -> dict``: one method in this process (the Ray ``cost`` suite runs each
  trial in a fresh process, which is what makes its memory figure honest on a CPU).
- ``compare(methods, model, ...) -> dict``: several methods interleaved round-robin in ONE
  process (timing drift and neighbours' load hit every method alike), medians and ratios to
  softmax; ``format_table`` prints it. ``python -m bench.cost [model] [methods...]`` runs it.

FSR's cost floor (a plain step plus one no-grad forward of its q reward samples joined to
the B un-mixed training samples, BatchNorm on that batch's statistics, as the reference
margin needs) is the softmax step with ``extra_forward=q + B, extra_forward_bn="batch"``.
``python -m bench.cost resnet32 fsr --floor 200`` adds it to the table (q = 200), with each
row's ratio to it.

What is timed is ``method.update(batch, info)``, one whole optimisation step, on batches cut
from a synthetic training set resident on the device (no augmentation, no data loading).
Methods with a warm-up phase (FSR's ``warmup_epochs``) are measured in their active phase:
``warmup_epochs=0`` unless the config's hparams say otherwise. Epoch-end work (FSR's
dictionary refresh) is not part of a step and is not timed.
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from methods import METHODS, Batch, Context, StepInfo, get_method_class
from methods import precision as amp
from methods.functional import eval_mode, frozen_bn_stats

from . import allocator
from .memory import MemoryProbe
from .harness import StepTimer, resolve_device, use_channels_last
from .models import build_model

# Input shapes by network when the config names none: the small nets take MNIST-1D (1 x 40),
# the CIFAR nets 3 x 32 x 32.
DEFAULT_SHAPES = {"small_cnn": (1, 40), "mlp": (1, 40), "resnet32": (3, 32, 32),
                  "wrn28_10": (3, 32, 32), "wrn28_2": (3, 32, 32)}

# (input_shape, num_classes) of the registered data sets, so a suite's config can name one
# instead of giving both (nothing is loaded: the inputs are synthetic anyway).
DATASET_SHAPES = {"mnist1d": ((1, 40), 10), "digits": ((1, 8, 8), 10),
                  "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100)}

DEFAULTS = dict(
    model="small_cnn", dataset=None, input_shape=None, num_classes=None, batch_size=100,
    method="softmax", hparams={}, reward_per_class=10, num_train=None, extra_forward=0, extra_forward_bn="eval",
    steps=15, warmup=3, device="auto", seed=0, threads=None, precision="fp32", channels_last="auto",
    optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
)


# ------------------------------------------------------------------------------- setup
def _config(config: dict, strict: bool = True) -> dict:
    unknown = set(config) - set(DEFAULTS)
    if unknown and strict:
        raise ValueError(f"bench.cost: unknown config key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    if cfg["dataset"] is not None:
        if cfg["dataset"] not in DATASET_SHAPES:
            raise ValueError(f"bench.cost: no shape known for data set {cfg['dataset']!r}; "
                             f"give input_shape and num_classes (known: {', '.join(DATASET_SHAPES)})")
        shape, classes = DATASET_SHAPES[cfg["dataset"]]
        cfg["input_shape"] = cfg["input_shape"] or shape
        cfg["num_classes"] = cfg["num_classes"] or classes
    if cfg["input_shape"] is None:
        if cfg["model"] not in DEFAULT_SHAPES:
            raise ValueError(f"bench.cost: give input_shape for model {cfg['model']!r}")
        cfg["input_shape"] = DEFAULT_SHAPES[cfg["model"]]
    cfg["num_classes"] = int(cfg["num_classes"] or 10)
    cfg["input_shape"] = tuple(int(s) for s in cfg["input_shape"])
    return cfg


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


@dataclass
class StepRunner:
    """A built method on fixed synthetic data; ``step()`` runs one ``method.update`` on the
    next fixed batch (cycling), ``sync()`` waits for the device."""

    name: str
    method: object
    batches: list
    device: torch.device
    steps_per_epoch: int
    epochs: int
    lr: float
    extra: torch.Tensor | None = None    # forwarded without gradient before each step
    extra_bn: str = "eval"               # its BatchNorm: "eval" or "batch" (statistics not updated)
    precision: str = "fp32"              # resolved: fp32, bf16 or fp16 (methods.precision)
    step_count: int = 0

    def step(self) -> dict:
        with amp.autocast(self.device, self.precision):
            if self.extra is not None:
                model = self.method.model
                with torch.no_grad(), (eval_mode(model) if self.extra_bn == "eval" else frozen_bn_stats(model)):
                    model(self.extra)
            b = self.batches[self.step_count % len(self.batches)]
            info = StepInfo(epoch=self.step_count // self.steps_per_epoch, step=self.step_count, lr=self.lr,
                            epochs=self.epochs, steps_per_epoch=self.steps_per_epoch)
            self.step_count += 1
            return self.method.update(b, info)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def make_runner(config: dict, strict: bool = True) -> StepRunner:
    """Build model, synthetic data, Context and method for ``config`` (keys as ``measure``)."""
    cfg = _config(config, strict)
    allocator.tune()                           # the same glibc settings for every method
    device = resolve_device(cfg["device"])
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    seed, C, B = int(cfg["seed"]), int(cfg["num_classes"]), int(cfg["batch_size"])
    cls = get_method_class(cfg["method"])
    hparams = dict(cfg["hparams"])
    if "warmup_epochs" in cls.defaults:      # time the active (re-weighting) step, not the warm-up
        hparams.setdefault("warmup_epochs", 0)

    gen = torch.Generator().manual_seed(seed)
    # Enough training samples for several distinct batches and for FSR's dictionary/reward draw.
    q = int(hparams.get("reward_batch", cls.defaults.get("reward_batch", 0)) or 0)
    n = int(cfg["num_train"] or max(10 * B, 10 * q, 20 * C))
    shape = cfg["input_shape"]
    x = torch.randn(n, *shape, generator=gen)
    y = torch.arange(n) % C                    # balanced observed labels ...
    y = y[torch.randperm(n, generator=gen)]    # ... in random order
    nr = int(cfg["reward_per_class"]) * C
    xr = torch.randn(nr, *shape, generator=gen)
    yr = torch.arange(nr) % C
    x, y, xr, yr = x.to(device), y.to(device), xr.to(device), yr.to(device)
    prec = amp.resolve(cfg["precision"], device)
    layout = torch.channels_last if use_channels_last(cfg["channels_last"], device, shape) else None

    torch.manual_seed(seed)                    # same initial weights for every method
    model = build_model(cfg["model"], shape, C).to(device)
    if layout is not None:
        model, x, xr = model.to(memory_format=layout), x.contiguous(memory_format=layout), xr.contiguous(memory_format=layout)
    model.train()
    steps_per_epoch = max(1, n // B)
    epochs = 10**6                             # no schedule ends inside a measurement
    ctx = Context(num_classes=C, class_counts=torch.bincount(y, minlength=C).cpu(), num_train=n,
                  epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=B, optim=dict(cfg["optim"]),
                  train_x=x, train_y=y, reward_x=xr if nr else None, reward_y=yr if nr else None,
                  generator=torch.Generator().manual_seed(seed), device=device, scaler=amp.make_scaler(device, prec))
    method = cls(model, ctx, **hparams)
    batches = []
    for i in range(steps_per_epoch):
        idx = torch.arange(i * B, (i + 1) * B, device=device)
        batches.append(Batch(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B], idx))
    extra = (torch.randn(int(cfg["extra_forward"]), *shape, generator=gen).to(device)
             if cfg["extra_forward"] else None)
    if extra is not None and layout is not None:
        extra = extra.contiguous(memory_format=layout)
    if cfg["extra_forward_bn"] not in ("eval", "batch"):
        raise ValueError(f"bench.cost: extra_forward_bn must be eval or batch, not {cfg['extra_forward_bn']!r}")
    return StepRunner(cfg["method"], method, batches, device, steps_per_epoch, epochs,
                      float(cfg["optim"]["lr"]), extra, cfg["extra_forward_bn"], prec)


def _summary(times: list[float]) -> dict:
    if not times:
        return dict(step_time_s=math.nan, step_time_iqr_s=math.nan)
    q75, q25 = np.percentile(times, [75, 25])
    return dict(step_time_s=statistics.median(times), step_time_iqr_s=float(q75 - q25))


def _timed(runner: StepRunner, steps: int, cpu_times: list | None = None) -> list[float]:
    """Wall seconds of ``steps`` steps (host clock on CPU, CUDA events on GPU); on CPU also
    appends each step's process CPU seconds (all threads) to ``cpu_times``."""
    timer, outs = StepTimer(runner.device), []
    for _ in range(steps):
        c0 = time.process_time()
        t0 = timer.start()
        outs.append(runner.step())
        timer.stop(t0)
        if cpu_times is not None and runner.device.type == "cpu":
            cpu_times.append(time.process_time() - c0)
    timer.flush()
    for i, out in enumerate(outs):   # checked after the timed steps: no host sync between them
        for k, v in out.items():
            if k != "weights" and not math.isfinite(float(v)):
                raise FloatingPointError(f"{runner.name}: {k} is {float(v)} at step {runner.step_count - steps + i}")
    return timer.times


# ------------------------------------------------------------------------------- measure
def measure(config: dict, strict: bool = True) -> dict:
    """Median seconds per training step and peak memory of one method on fixed synthetic data.

    Config keys (all optional; unknown keys are an error, or ignored with ``strict=False``,
    e.g. for a whole trial config):
      model            network name of bench.models (default "small_cnn")
      dataset          a registered data set's name, for its shape and class count only
                       (mnist1d, digits, cifar10, cifar100; nothing is loaded)
      input_shape      per-sample shape; default from dataset, else by model:
                       (1, 40) small nets, (3, 32, 32) CIFAR nets
      num_classes      C (default from dataset, else 10)
      batch_size       B (default 100)
      method           registry name (default "softmax")
      hparams          the method's hyper-parameters (dict). FSR-like methods get
                       warmup_epochs=0 unless given, so the re-weighting step is what is timed
                       (L2R reward batch: reward_batch_size, default 100; MWN: meta_batch_size,
                       default 100; FSR: reward_batch q, default 200)
      reward_per_class clean reward-set size per class (default 10, i.e. 100 samples at C=10)
      num_train        synthetic training-set size (default max(10 B, 10 q, 20 C))
      extra_forward    before each step, a no-grad forward of this many other synthetic
                       samples (default 0; FSR's floor: softmax with q + B)
      extra_forward_bn its BatchNorm: "eval" (default) or "batch" (batch statistics, running
                       ones untouched: FSR's floor)
      steps, warmup    timed steps (default 15) after untimed warm-up steps (default 3)
      device           "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
      seed             data, initial weights and the methods' generators (default 0)
      threads          torch.set_num_threads(threads) before building; process-wide and left
                       so (default None: leave the process's setting)
      optim            SGD settings (default lr 0.1, momentum 0.9, weight decay 5e-4)
      precision        fp32 (default), bf16, fp16 or auto (methods.precision)
      channels_last    auto (2-D networks on CUDA), True or False

    Returns a flat dict: step_time_s (median of the timed steps), step_time_iqr_s,
    peak_mem_mb (CUDA: max_memory_allocated over warm-up + timed steps; CPU: growth of the
    peak resident set over them relative to the RSS just before the first step, see
    MemoryProbe for the caveats), mem_baseline_mb, mem_mode, device (name), method, model,
    input_shape, num_classes, batch_size, steps, warmup, num_params, wall_s.
    Timing: host clock on CPU; CUDA events read after one synchronisation on GPU.
    """
    wall0 = time.perf_counter()
    cfg = _config(config, strict)
    runner = make_runner(cfg)
    probe = MemoryProbe(runner.device)
    probe.start()
    for _ in range(int(cfg["warmup"])):
        runner.step()
    runner.sync()
    cpu: list[float] = []
    times = _timed(runner, int(cfg["steps"]), cpu)
    mem = probe.stop()
    return dict(**_summary(times), cpu_time_s=statistics.median(cpu) if cpu else math.nan, **mem,
                device=device_name(runner.device), method=cfg["method"], precision=runner.precision,
                model=cfg["model"], input_shape=list(cfg["input_shape"]), num_classes=cfg["num_classes"],
                batch_size=int(cfg["batch_size"]), steps=len(times),
                warmup=int(cfg["warmup"]), num_params=sum(p.numel() for p in runner.method.model.parameters()),
                wall_s=time.perf_counter() - wall0)


def fsr_floor(q: int, batch_size: int) -> dict:
    """The config overrides of FSR's floor: a softmax step plus one no-grad forward of q + B
    samples on batch statistics (the reward batch joined to the un-mixed training batch)."""
    return {"method": "softmax", "extra_forward": q + batch_size, "extra_forward_bn": "batch"}


# ------------------------------------------------------------------------------- compare
def compare(methods=None, model: str = "small_cnn", batch_size: int = 100, steps: int = 5,
            warmup: int = 2, repeats: int = 3, hparams: dict | None = None, baseline: str = "softmax",
            variants: dict | None = None, precisions=("fp32",), **config) -> dict:
    """Several methods interleaved round-robin in ONE process: every method is built, warmed
    up (``warmup`` steps each), then ``repeats`` rounds each run ``steps`` timed steps of
    every method in turn. ``methods``: registry names (default: all registered); the
    baseline is always added. ``hparams``: {method: {...}}; ``variants``: {label: config
    overrides, e.g. {"method": "fsr", "hparams": {...}} or {"method": "softmax",
    "extra_forward": 200}}, timed like the methods; further keyword arguments are ``measure``
    config keys (input_shape, num_classes, reward_per_class, device, seed, ...).
    ``precisions``: every row in each of these (the first under its plain label, the others as
    ``label@bf16``), each precision's rows as ratios to its own baseline.
    A method that cannot be built is reported under ``skipped`` with the reason.

    Returns {"config": ..., "device": ..., "threads": ..., "baseline": ..., "skipped": {name: reason},
    "methods": {name: {step_time_s, step_time_iqr_s, ratio, ratio_pooled, round_ratios,
    round_medians}}}: ``ratio`` is the median over rounds of (the method's round median /
    the baseline's round median), ``ratio_pooled`` the pooled median over the baseline's.
    """
    names = list(METHODS) if methods is None else list(methods)
    if baseline not in names:
        names.insert(0, baseline)
    hparams = hparams or {}
    base_cfg = dict(config, model=model, batch_size=batch_size)
    configs, base_of = {}, {}
    for prec in precisions:
        tag = "" if prec == precisions[0] else f"@{prec}"
        rows = {name: dict(base_cfg, method=name, hparams=hparams.get(name, {})) for name in names}
        rows.update({label: {**base_cfg, "hparams": {}, **over} for label, over in (variants or {}).items()})
        configs.update({label + tag: dict(cfg, precision=prec) for label, cfg in rows.items()})
        base_of.update({label + tag: baseline + tag for label in rows})
    runners, skipped = {}, {}
    for name, cfg in configs.items():
        try:
            runners[name] = make_runner(cfg)
        except Exception as e:  # noqa: BLE001 (reported, not raised: one broken method must not hide the rest)
            skipped[name] = f"{type(e).__name__}: {e}"
    if baseline not in runners:
        raise RuntimeError(f"bench.cost.compare: the baseline {baseline!r} cannot be built: {skipped[baseline]}")
    for name in [n for n in runners if base_of[n] not in runners]:
        skipped[name] = f"its baseline {base_of[name]} cannot be built"
        del runners[name]
    for name, r in list(runners.items()):
        try:
            for _ in range(warmup):
                r.step()
            r.sync()
        except Exception as e:  # noqa: BLE001
            skipped[name] = f"{type(e).__name__} in a step: {e}"
            del runners[name]
    times = {n: [] for n in runners}
    cpu = {n: [] for n in runners}
    rounds = {n: [] for n in runners}
    cpu_rounds = {n: [] for n in runners}
    for _ in range(repeats):
        for name, r in runners.items():
            c: list[float] = []
            t = _timed(r, steps, c)
            times[name] += t
            cpu[name] += c
            rounds[name].append(statistics.median(t))
            cpu_rounds[name].append(statistics.median(c) if c else math.nan)
    out = {}
    for name in runners:
        base = base_of[name]
        rr = [m / b for m, b in zip(rounds[name], rounds[base])]
        cr = [m / b for m, b in zip(cpu_rounds[name], cpu_rounds[base])]
        has_cpu = bool(cpu[name])
        out[name] = dict(**_summary(times[name]), ratio=statistics.median(rr), baseline=base,
                         precision=runners[name].precision,
                         ratio_pooled=statistics.median(times[name]) / statistics.median(times[base]),
                         round_ratios=rr, round_medians=rounds[name],
                         cpu_time_s=statistics.median(cpu[name]) if has_cpu else math.nan,
                         cpu_ratio=statistics.median(cr) if has_cpu else math.nan,
                         cpu_ratio_pooled=(statistics.median(cpu[name]) / statistics.median(cpu[base])
                                           if has_cpu else math.nan))
    device = next(iter(runners.values())).device
    return dict(config=dict(base_cfg, steps=steps, warmup=warmup, repeats=repeats, hparams=hparams,
                            precisions=list(precisions)),
                device=device_name(device), threads=torch.get_num_threads(), baseline=baseline,
                methods=out, skipped=skipped)


def format_table(result: dict, second: str | None = None) -> str:
    """The comparison as text: wall-clock median and IQR per step, the ratio to the baseline
    (median over rounds), the same ratio on process CPU time (CPU only), per-round ratios;
    with ``second`` (a row's label) also each row's ratio to that row, median over rounds."""
    cfg, base, rows = result["config"], result["baseline"], result["methods"]
    w = max([10] + [len(n) for n in rows])
    extra = f" {'x ' + second:>10}" if second in rows else ""
    lines = [f"per-step cost, {cfg['model']} B={cfg['batch_size']} on {result['device']} "
             f"({result.get('threads', '?')} threads), {cfg['repeats']} interleaved rounds x {cfg['steps']} steps",
             f"{'method':<{w}} {'median s':>10} {'iqr s':>9} {'x ' + base:>10}{extra} {'cpu x':>7}   wall ratio per round"]
    for name, m in rows.items():
        rr = ", ".join(f"{r:.2f}" for r in m["round_ratios"])
        col, tag = "", name[name.index("@"):] if "@" in name else ""
        if extra and second + tag in rows:   # each precision's rows against its own second row
            floor = rows[second + tag]["round_medians"]
            col = f" {statistics.median(a / b for a, b in zip(m['round_medians'], floor)):>10.2f}"
        elif extra:
            col = f" {'-':>10}"
        lines.append(f"{name:<{w}} {m['step_time_s']:>10.4f} {m['step_time_iqr_s']:>9.4f} {m['ratio']:>10.2f}{col} "
                     f"{m['cpu_ratio']:>7.2f}   {rr}")
    for name, why in result["skipped"].items():
        lines.append(f"{name:<{w}} skipped: {why}")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.cost", description="interleaved per-step cost table")
    ap.add_argument("model", nargs="?", default="small_cnn")
    ap.add_argument("methods", nargs="*", help="registry names (default: all)")
    ap.add_argument("--floor", type=int, default=0, metavar="Q",
                    help="add 'floor': softmax + a no-grad forward of Q + B samples on batch statistics "
                         "(FSR's floor with MixUp), and ratios to it")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: leave as is)")
    ap.add_argument("--precision", default="fp32", metavar="P[,P...]",
                    help="fp32, bf16, fp16: each row in each, as ratios to softmax in the same precision "
                         "(e.g. fp32,bf16)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    bad = [p for p in precisions if p not in amp.PRECISIONS]
    if bad or not precisions:
        print(f"python -m bench.cost: unknown precision {', '.join(bad) or args.precision!r}; "
              f"use {', '.join(amp.PRECISIONS)}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = {"floor": fsr_floor(args.floor, 100)} if args.floor else None
    res = compare(args.methods or None, model=args.model, steps=args.steps, repeats=args.repeats, variants=variants,
                  precisions=precisions, device=args.device)
    print(format_table(res, "floor" if args.floor else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
