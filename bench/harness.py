"""The one training harness every method runs under.

Data stay resident as tensors on the device; batches are drawn by index from a seeded
permutation and augmented as tensors; the schedule sets the learning rate per step; the
test set is evaluated after every epoch. Nothing here knows any particular method.

With ``checkpoint_dir`` and ``checkpoint_every`` (N epochs) a trial saves its state every N
epochs and a rerun of the same trial id continues from it (``bench.checkpoint``).

With ``ema_decay`` (on in the paper profile, 0.999 as the reference code) the test accuracy is
that of an exponential moving average of the weights, for every method alike; each row keeps
the raw model's accuracy too (``raw_test_acc``, ``raw_best_acc``).
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import datasets
from methods import Batch, Context, StepInfo, get_method_class
from methods import precision as amp

from . import allocator, checkpoint, memory
from .metrics import WeightStats, shot_accuracy
from .models import build_model
from .schedules import make_schedule

DEFAULTS = dict(
    dataset=datasets.DEFAULT, data_root=None, download=False, corruption="clean", method="softmax",
    hparams={}, seed=0, model="small_cnn", epochs=10, batch_size=100, eval_batch_size=1000,
    optim=dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False),
    schedule=dict(name="cosine_restarts"), reward_per_class=0, reward_total=None, train_limit=None,
    ema_decay=None, device="auto", timing_warmup_steps=3, dataset_options=None,
    checkpoint_dir=None, checkpoint_every=0, precision="fp32", channels_last="auto",
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: the allocator's peak since the trial began; CPU: the process's resident high-water
    mark since the trial began (reset at its start: a Ray worker runs several trials)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return memory.peak_rss_mb()


class StepTimer:
    """Per-step wall time: host clock on CPU, CUDA events (read after a sync) on GPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.times: list[float] = []
        self.pending: list = []

    def start(self):
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def stop(self, start) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.pending.append((start, end))
        else:
            self.times.append(time.perf_counter() - start)

    def flush(self) -> None:
        if self.pending:
            torch.cuda.synchronize()
            self.times += [s.elapsed_time(e) / 1000 for s, e in self.pending]
            self.pending = []


def use_channels_last(setting, device: torch.device, input_shape) -> bool:
    """``"auto"``: channels-last memory layout for 2-D networks on CUDA (tensor cores read it
    without transposes); on a CPU the default layout. True / False force it."""
    if setting == "auto":
        return device.type == "cuda" and len(input_shape) == 3
    return bool(setting)


@torch.no_grad()
def evaluate(method, x, y, batch_size, precision: str = "fp32") -> torch.Tensor:
    method.model.eval()
    with amp.autocast(x.device, precision):
        preds = [method.predict(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    method.model.train()
    return torch.cat(preds)


class WeightEMA:
    """An exponential moving average of the model's parameters (decay d: ema <- d ema + (1 - d) p
    after every step), evaluated as the reference code evaluates, for every method alike:
    ``swapped()`` puts the averages into the model (BatchNorm keeps its running statistics) and
    restores the trained parameters after."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.params = [p for p in model.parameters()]
        self.avg = [p.detach().clone() for p in self.params]
        self.weight = 1.0 - float(decay)

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.avg, [p.detach() for p in self.params], self.weight)

    @contextlib.contextmanager
    def swapped(self):
        saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in self.params], self.avg)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in self.params], saved)


def make_batch(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, augment, layout=None) -> Batch:
    """The training batch at ``idx``, augmented (and in ``layout``, e.g. channels-last)."""
    xb = augment(x[idx])
    return Batch(xb if layout is None else xb.contiguous(memory_format=layout), y[idx], idx)


def take_step(method, batch: Batch, info: StepInfo, precision: str, sums: dict, timer: StepTimer | None = None,
              ema: WeightEMA | None = None, wstats: WeightStats | None = None, clean=None) -> None:
    """One training step as the harness runs it: ``method.update`` in the run's precision
    (timed alone, when ``timer`` is given), the EMA of the weights, the weight diagnostics,
    and what the method returns checked finite and summed into ``sums``."""
    t0 = timer.start() if timer is not None else None
    with amp.autocast(batch.x.device, precision):
        out = method.update(batch, info)
    if timer is not None:
        timer.stop(t0)
    if ema is not None:
        ema.update()
    weights = out.pop("weights", None)
    if weights is not None and wstats is not None:
        wstats.add(weights, clean[batch.idx])
    for k, v in out.items():   # a CPU value is checked now; a GPU one at the epoch's end (no sync per step)
        v = v.detach() if torch.is_tensor(v) and v.device.type != "cpu" else float(v)
        if isinstance(v, float) and not math.isfinite(v):
            raise FloatingPointError(f"{k} is {v} at epoch {info.epoch}, step {info.step}")
        sums[k] = sums.get(k, 0.0) + v


def epoch_means(sums: dict, steps: int, epoch: int) -> dict:
    """The epoch's mean of each value a method returned (one host sync for GPU sums)."""
    means = {f"train_{k}": float(v) / steps for k, v in sums.items()}
    bad = [k for k, v in means.items() if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"{bad[0][6:]} is {means[bad[0]]} in epoch {epoch}")
    return means


def save_labels(path: Path, data: datasets.Prepared) -> None:
    np.savez_compressed(path, observed=data.y_train.cpu().numpy(), true=data.y_true.cpu().numpy(),
                        clean=data.clean_mask.cpu().numpy(), train_index=data.train_index.cpu().numpy(),
                        reward_index=data.reward_index.cpu().numpy(), corruption=str(data.spec))


def train(config: dict, report: Callable[[dict], None] | None = None, trial_dir: str | None = None) -> dict:
    """Run one trial; ``report`` gets one dict per epoch; returns the final metrics."""
    cfg = {**DEFAULTS, **config}
    wall0 = time.perf_counter()
    memory.reset_peak_rss()
    allocator.tune()
    device = resolve_device(cfg["device"])
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    ds = datasets.load_dataset(cfg["dataset"], cfg["data_root"], cfg["download"], **(cfg["dataset_options"] or {}))
    reward_per_class = (int(cfg["reward_total"]) // ds.num_classes if cfg["reward_total"]
                        else int(cfg["reward_per_class"]))   # reward_total: a size in all (MW-Net's num_meta)
    data = datasets.prepare(ds, cfg["corruption"], seed, reward_per_class, cfg["train_limit"]).to(device)
    if trial_dir:
        save_labels(Path(trial_dir) / "labels.npz", data)
    augment_fn = datasets.augment.AUGMENTATIONS[data.augment]
    augment = lambda x, generator=None: augment_fn(x, generator=gen if generator is None else generator)

    n, bs, epochs = len(data.y_train), int(cfg["batch_size"]), int(cfg["epochs"])
    steps_per_epoch = max(1, n // bs)
    model = build_model(cfg["model"], ds.input_shape, ds.num_classes).to(device)
    prec = amp.resolve(cfg["precision"], device)
    layout = torch.channels_last if use_channels_last(cfg["channels_last"], device, ds.input_shape) else None
    if layout is not None:   # model and resident data once; batches below
        model = model.to(memory_format=layout)
        data.x_train, data.x_test = data.x_train.contiguous(memory_format=layout), data.x_test.contiguous(memory_format=layout)
    counts = data.class_counts()
    ctx = Context(num_classes=ds.num_classes, class_counts=counts, num_train=n, epochs=epochs,
                  steps_per_epoch=steps_per_epoch, batch_size=bs, optim=dict(cfg["optim"]),
                  train_x=data.x_train, train_y=data.y_train, reward_x=data.x_reward,
                  reward_y=data.y_reward, augment=augment, generator=gen, device=device,
                  scaler=amp.make_scaler(device, prec))
    method = get_method_class(cfg["method"])(model, ctx, **cfg["hparams"])
    lr_at = make_schedule(cfg["schedule"], cfg["optim"]["lr"])

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    timer, wstats, clean = StepTimer(device), WeightStats(), data.clean_mask
    ema = WeightEMA(model, cfg["ema_decay"]) if cfg["ema_decay"] else None
    best_acc, raw_best, history, last = 0.0, 0.0, [], {}
    step, start = 0, 0
    ckpt_path = checkpoint.path_for(cfg)
    saved = checkpoint.load(ckpt_path)
    if saved is not None:    # a killed run of this trial: continue where it stopped
        method.load_state_dict(saved["method"])
        checkpoint.set_rng_state(gen, saved["rng"])
        start, step, best_acc, raw_best = saved["epoch"], saved["step"], saved["best_acc"], saved["raw_best"]
        history, last, timer.times = saved["history"], saved["last"], saved["step_times"]
        wstats.weights, wstats.clean = saved["weights"], saved["clean"]
        if ema is not None:
            ema.avg = [a.to(device) for a in saved["ema"]]
        if ctx.scaler is not None and saved.get("scaler"):
            ctx.scaler.load_state_dict(saved["scaler"])
    for epoch in range(start, epochs):
        t_epoch = time.perf_counter()
        model.train()
        perm = datasets.augment.to_device(torch.randperm(n, generator=gen), device)
        sums: dict[str, float] = {}
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            batch = make_batch(data.x_train, data.y_train, idx, augment, layout)
            info = StepInfo(epoch, step, lr_at(epoch + b / steps_per_epoch), epochs, steps_per_epoch)
            take_step(method, batch, info, prec, sums, timer if step >= cfg["timing_warmup_steps"] else None,
                      ema, wstats, clean)
            step += 1
        timer.flush()
        wstats.flush()
        extra = method.on_epoch_end(epoch) or {}
        dictionary = extra.pop("dictionary", None)
        pred = raw_pred = evaluate(method, data.x_test, data.y_test, cfg["eval_batch_size"], prec)
        if ema is not None:
            with ema.swapped():
                pred = evaluate(method, data.x_test, data.y_test, cfg["eval_batch_size"], prec)
        acc = float((pred == data.y_test).float().mean())
        raw_acc = float((raw_pred == data.y_test).float().mean())
        best_acc, raw_best = max(best_acc, acc), max(raw_best, raw_acc)
        last = dict(epoch=epoch + 1, test_acc=acc, best_acc=best_acc, raw_test_acc=raw_acc, lr=info.lr,
                    **epoch_means(sums, steps_per_epoch, epoch),
                    **{k: float(v) for k, v in extra.items()}, epoch_s=time.perf_counter() - t_epoch)
        if dictionary is not None:
            last["dict_purity"] = float(clean[torch.as_tensor(dictionary, device=device)].float().mean())
        history.append(last)
        if report:
            report(dict(last))
        if ckpt_path is not None and (epoch + 1) % int(cfg["checkpoint_every"]) == 0 and epoch + 1 < epochs:
            checkpoint.save(ckpt_path, dict(
                epoch=epoch + 1, step=step, method=method.state_dict(), rng=checkpoint.rng_state(gen),
                best_acc=best_acc, raw_best=raw_best, history=history, last=last, step_times=timer.times,
                weights=wstats.weights, clean=wstats.clean, ema=None if ema is None else ema.avg,
                scaler=None if ctx.scaler is None else ctx.scaler.state_dict()))

    extra_acc = {}
    for name, (x, y) in data.extra_test.items():   # further test sets, once at the end (e.g. ImageNet val)
        with ema.swapped() if ema is not None else contextlib.nullcontext():
            extra_acc[f"{name}_acc"] = float((evaluate(method, x, y, cfg["eval_batch_size"], prec) == y).float().mean())
    result = dict(  # ``pred``: the last epoch's test predictions
        test_acc=last["test_acc"], best_acc=best_acc, raw_test_acc=last["raw_test_acc"], raw_best_acc=raw_best,
        epochs=epochs,
        realized_noise=data.realized_noise, num_train=n, num_reward=len(data.y_reward),
        dict_purity=last.get("dict_purity", math.nan),
        step_time_s=statistics.median(timer.times) if timer.times else math.nan,
        step_time_iqr_s=(float(np.subtract(*np.percentile(timer.times, [75, 25]))) if timer.times else math.nan),
        peak_mem_mb=peak_memory_mb(device), device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        **wstats.summary(),
        **(shot_accuracy(pred, data.y_test, counts) if data.spec.imbalance_ratio > 1 else {}),
        **extra_acc, wall_s=time.perf_counter() - wall0, resumed_from_epoch=start,
        precision=prec, channels_last=layout is not None,
    )
    if ckpt_path is not None:
        ckpt_path.unlink(missing_ok=True)
    return result
