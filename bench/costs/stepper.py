"""The synthetic step runner behind ``bench.costs.cost`` and ``bench.costs.compare``: one method built on
fixed synthetic inputs of a network's shape (no data loaded), stepped and timed as the
harness steps it (host clock on CPU, CUDA events on GPU)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from datasets.registry import SHAPES
from methods import Batch, StepInfo, get_method_class
from methods import _precision as amp
from methods._functional import eval_mode, frozen_bn_stats

from ..trial import allocator, capture
from ..trial.harness import DEFAULTS as TRIAL_DEFAULTS, build_method, resolve_device, use_channels_last
from ..trial.instruments import StepTimer
from ..trial.models import INPUT_SHAPES, build_model

#: the settings a cost trial shares with a training trial take the harness's defaults (one
#: declaration, bench.trial.harness.DEFAULTS); the rest are the step runner's own
SHARED = ("model", "batch_size", "method", "hparams", "device", "seed", "precision", "channels_last", "optim",
          "compile")
DEFAULTS = dict(
    {k: TRIAL_DEFAULTS[k] for k in SHARED}, dataset=None, input_shape=None, num_classes=None,
    reward_per_class=10, num_train=None, extra_forward=0, extra_forward_bn="eval", steps=15, untimed_steps=3, threads=None,
)


# ------------------------------------------------------------------------------- setup
def _config(config: dict, strict: bool = True) -> dict:
    if "warmup" in config:   # one meaning per name: a schedule's warm-up is another thing
        raise ValueError("bench.costs.cost: 'warmup' is now called 'untimed_steps'")
    unknown = set(config) - set(DEFAULTS)
    if unknown and strict:
        raise ValueError(f"bench.costs.cost: unknown config key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    if cfg["dataset"] is not None:
        if cfg["dataset"] not in SHAPES:
            raise ValueError(f"bench.costs.cost: no shape known for data set {cfg['dataset']!r}; "
                             f"give input_shape and num_classes (known: {', '.join(SHAPES)})")
        shape, classes = SHAPES[cfg["dataset"]]
        cfg["input_shape"] = cfg["input_shape"] or shape
        cfg["num_classes"] = cfg["num_classes"] or classes
    if cfg["input_shape"] is None:
        if cfg["model"] not in INPUT_SHAPES:
            raise ValueError(f"bench.costs.cost: give input_shape for model {cfg['model']!r}")
        cfg["input_shape"] = INPUT_SHAPES[cfg["model"]]
    cfg["num_classes"] = int(cfg["num_classes"] or 10)
    cfg["input_shape"] = tuple(int(s) for s in cfg["input_shape"])
    return cfg


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
    precision: str = "fp32"              # resolved: fp32, bf16 or fp16 (methods._precision)
    captured: capture.CapturedStep | None = None   # the captured step (bench.trial.capture), if any
    step_count: int = 0

    def extra_forward(self) -> None:
        model = self.method.model
        with torch.no_grad(), (eval_mode(model) if self.extra_bn == "eval" else frozen_bn_stats(model)):
            model(self.extra)

    def step(self) -> dict:
        with amp.autocast(self.device, self.precision):
            if self.extra is not None:
                self.extra_forward()
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
    if "reweight_start" in cls.defaults:      # time the active (re-weighting) step, not the warm-up
        hparams.setdefault("reweight_start", 0)

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
    method = build_method(cfg["method"], model, hparams, num_classes=C,
                          class_counts=torch.bincount(y, minlength=C).cpu(), num_train=n, epochs=epochs,
                          steps_per_epoch=steps_per_epoch, batch_size=B, optim=dict(cfg["optim"]), train_x=x,
                          train_y=y, reward_x=xr if nr else None, reward_y=yr if nr else None, seed=seed,
                          device=device, scaler=amp.make_scaler(device, prec))
    batches = []
    for i in range(steps_per_epoch):
        idx = torch.arange(i * B, (i + 1) * B, device=device)
        batches.append(Batch(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B], idx))
    extra = (torch.randn(int(cfg["extra_forward"]), *shape, generator=gen).to(device)
             if cfg["extra_forward"] else None)
    if extra is not None and layout is not None:
        extra = extra.contiguous(memory_format=layout)
    if cfg["extra_forward_bn"] not in ("eval", "batch"):
        raise ValueError(f"bench.costs.cost: extra_forward_bn must be eval or batch, not {cfg['extra_forward_bn']!r}")
    captured = capture.capture(method, cfg["compile"], device)
    runner = StepRunner(cfg["method"], method, batches, device, steps_per_epoch, epochs,
                        float(cfg["optim"]["lr"]), extra, cfg["extra_forward_bn"], prec, captured)
    if captured is not None and extra is not None:   # a floor's extra forward is captured as the step is
        runner.extra_forward = captured.compile_like(runner.extra_forward)
    return runner


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


def fsr_floor(q: int, batch_size: int) -> dict:
    """The config overrides of FSR's floor: a softmax step plus one no-grad forward of q + B
    samples on batch statistics (the reward batch joined to the un-mixed training batch)."""
    return {"method": "softmax", "extra_forward": q + batch_size, "extra_forward_bn": "batch"}
