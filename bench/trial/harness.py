"""The one training harness every method runs under.

Data stay resident as tensors on the device; batches are drawn by index from a seeded
permutation and augmented as tensors; the schedule sets the learning rate per step; the
test set is evaluated after every epoch. Nothing here knows any particular method.

With ``checkpoint_dir`` and ``checkpoint_every`` (N epochs) a trial saves its state every N
epochs and a rerun of the same trial id continues from it (``bench.trial.checkpoint``); a checkpoint
that does not load or does not fit the trial is moved aside, and the trial starts from epoch 0.

A NaN or infinite weight or test output at an epoch's evaluation fails the trial with its reason
(checked once per evaluation: no step waits for the host).

With ``ema_decay`` (on in the paper profile, 0.999 as the reference code) the test accuracy is
that of an exponential moving average of the weights, for every method alike; each row keeps
the raw model's accuracy too (``raw_test_acc``, ``raw_best_acc``).

A run's length is ``epochs``, or ``max_steps`` (with ``epochs`` None): that many steps, the
last epoch cut short where they end, i.e. ceil(max_steps / steps per epoch) epochs, an epoch
being the training set's size // batch size steps (the WebVision reference gives its length so:
``--max_iteration``). With ``top5`` the evaluation also takes the top-5 accuracy of each test
set (``test_top5``, ``imagenet_top5``).

With ``compile`` ("on", "aot_eager"; default "off") each step runs captured (``bench.trial.capture``):
the method's ``train_step`` compiled with torch.compile, CUDA graphs on a GPU; the row records
which ran (``extra.effective.compile``).
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import datasets
from methods import Batch, Context, StepInfo, get_method_class
from methods import _precision as amp
from methods._device import to_device
from methods.base import SGD
from reports.metrics import METRICS

from . import allocator, capture, checkpoint
from .instruments import StepTimer, device_name, peak_memory_mb, reset_peak_rss, summarize_steps
from .diagnostics import WeightStats, shot_accuracy
from .models import build_model
from .schedules import make_schedule

DEFAULTS = dict(
    dataset=datasets.DEFAULT, data_root=None, download=False, corruption="clean", method="softmax",
    hparams={}, seed=0, model="small_cnn", epochs=10, max_steps=None, batch_size=100, eval_batch_size=1000,
    top5=False, optim=dict(SGD),
    schedule=dict(name="cosine_restarts"), reward_per_class=0, reward_total=None, reward_pool_per_class=None,
    train_limit=None,
    ema_decay=None, device="auto", timing_warmup_steps=3, dataset_options=None,
    checkpoint_dir=None, checkpoint_every=0, precision="fp32", channels_last="auto", val_fraction=0.0,
    compile="off",
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_channels_last(setting, device: torch.device, input_shape) -> bool:
    """``"auto"``: channels-last memory layout for 2-D networks on CUDA (tensor cores read it
    without transposes); on a CPU the default layout. True / False force it."""
    if setting == "auto":
        return device.type == "cuda" and len(input_shape) == 3
    return bool(setting)


@torch.no_grad()
def evaluate(method, x, y, batch_size, precision: str = "fp32", top5: bool = False) -> torch.Tensor:
    """The predicted classes of ``x`` (with ``top5``: each sample's 5 highest, best first, n x 5);
    a NaN or infinite output raises (counted on the device, read once at the end)."""
    method.model.eval()
    preds, bad = [], torch.zeros((), dtype=torch.long, device=x.device)
    with amp.autocast(x.device, precision):
        for i in range(0, len(x), batch_size):
            out = method.predict(x[i:i + batch_size])
            bad += (~torch.isfinite(out)).flatten(1).any(1).sum()
            preds.append(out.topk(min(5, out.shape[1]), 1).indices if top5 else out.argmax(1))
    method.model.train()
    if int(bad):
        raise FloatingPointError(f"non-finite outputs for {int(bad)} of {len(x)} samples evaluated")
    return torch.cat(preds)


def top1(pred: torch.Tensor) -> torch.Tensor:
    """The predicted class of each sample, from ``evaluate``'s classes (or its top 5)."""
    return pred if pred.ndim == 1 else pred[:, 0]


def accuracies(pred: torch.Tensor, y: torch.Tensor, name: str) -> dict:
    """``{name}_acc``, and ``{name}_top5`` where ``pred`` holds each sample's top 5."""
    out = {f"{name}_acc": float((top1(pred) == y).float().mean())}
    if pred.ndim == 2:
        out[f"{name}_top5"] = float((pred == y[:, None]).any(1).float().mean())
    return out


@torch.no_grad()
def check_weights(model: torch.nn.Module, epoch: int) -> None:
    """Raise when a parameter or buffer holds a NaN or an infinity (one host sync)."""
    named = [(n, t) for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_floating_point()]
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist()
    bad = [n for (n, _), ok in zip(named, finite) if not ok]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise FloatingPointError(f"non-finite weights in epoch {epoch}: {', '.join(bad[:3])}{more}")


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


def reward_per_class(cfg: dict, num_classes: int) -> int:
    """The clean reward set's size per class: ``reward_total`` (a size in all, MW-Net's num_meta)
    split over the classes where it is set, else ``reward_per_class``."""
    return int(cfg["reward_total"]) // num_classes if cfg.get("reward_total") else int(cfg.get("reward_per_class") or 0)


def save_labels(path: Path, data: datasets.Prepared) -> None:
    np.savez_compressed(path, observed=data.y_train.cpu().numpy(), true=data.y_true.cpu().numpy(),
                        clean=data.clean_mask.cpu().numpy(), train_index=data.train_index.cpu().numpy(),
                        reward_index=data.reward_index.cpu().numpy(), corruption=str(data.spec))


def build_method(name: str, model: torch.nn.Module, hparams: dict, **context):
    """The one place a method is built, for a trial and for the cost instruments alike: the
    class ``name`` names (methods.get_method_class), on ``model``, with ``hparams`` and a
    ``Context`` (methods.base) of ``context``."""
    return get_method_class(name)(model, Context(**context), **hparams)


class Trial:
    """One trial's state: its data, model, method and schedule (built in ``__init__`` in a fixed
    order, so that every draw is the same for a fresh and a resumed run), its running metrics,
    and the phases ``train`` calls: an epoch of steps, the epoch's evaluation, a checkpoint."""

    def __init__(self, cfg: dict, trial_dir: str | None = None):
        self.cfg, self.wall0 = cfg, time.perf_counter()
        reset_peak_rss()
        allocator.tune()
        device = self.device = resolve_device(cfg["device"])
        seed = int(cfg["seed"])
        torch.manual_seed(seed)
        np.random.seed(seed)
        gen = self.gen = torch.Generator(device="cpu").manual_seed(seed)
        ds = datasets.load_dataset(cfg["dataset"], cfg["data_root"], cfg["download"], **(cfg["dataset_options"] or {}))
        data = self.data = datasets.prepare(ds, cfg["corruption"], seed, reward_per_class(cfg, ds.num_classes),
                                            cfg["train_limit"], cfg["reward_pool_per_class"]).to(device)
        self.val = datasets.hold_out(data, cfg["val_fraction"], seed) if cfg["val_fraction"] else None
        if trial_dir:
            save_labels(Path(trial_dir) / "labels.npz", data)
        augment_fn = datasets.augment.AUGMENTATIONS[data.augment]
        self.augment = lambda x, generator=None: augment_fn(x, generator=gen if generator is None else generator)
        self.n, self.bs = len(data.y_train), int(cfg["batch_size"])
        spe = self.steps_per_epoch = max(1, self.n // self.bs)
        self.total_steps = int(cfg["max_steps"]) if cfg["max_steps"] else int(cfg["epochs"]) * spe
        self.epochs = -(-self.total_steps // spe)   # by steps: the last epoch cut short where they end
        model = self.model = build_model(cfg["model"], ds.input_shape, ds.num_classes).to(device)
        self.prec = amp.resolve(cfg["precision"], device)
        self.layout = torch.channels_last if use_channels_last(cfg["channels_last"], device, ds.input_shape) else None
        if self.layout is not None:   # model and resident data once; batches in make_batch
            model = self.model = model.to(memory_format=self.layout)
            data.x_train = data.x_train.contiguous(memory_format=self.layout)
            data.x_test = data.x_test.contiguous(memory_format=self.layout)
        self.counts = data.class_counts()   # observed labels: what a method may know (CB's class sizes)
        self.method = build_method(cfg["method"], model, cfg["hparams"], num_classes=ds.num_classes,
                                   class_counts=self.counts, num_train=self.n, epochs=self.epochs,
                                   steps_per_epoch=self.steps_per_epoch, batch_size=self.bs, optim=dict(cfg["optim"]),
                                   train_x=data.x_train, train_y=data.y_train, reward_x=data.x_reward,
                                   reward_y=data.y_reward, augment=self.augment, seed=seed, device=device,
                                   scaler=amp.make_scaler(device, self.prec))
        self.ctx = self.method.ctx
        self.captured = capture.capture(self.method, cfg["compile"], device, gen)   # None: eager steps
        self.lr_at = make_schedule(cfg["schedule"], cfg["optim"]["lr"])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        self.timer, self.wstats = StepTimer(device), WeightStats()
        self.ema = WeightEMA(model, cfg["ema_decay"]) if cfg["ema_decay"] else None
        self.best_acc, self.raw_best, self.history, self.last = 0.0, 0.0, [], {}
        self.step, self.start, self.pred = 0, 0, None
        self.epoch_zero_weight = math.nan

    def steps_in(self, epoch: int) -> int:
        """The steps of ``epoch``: all of its batches but in a run by steps' cut-short last epoch."""
        return min(self.steps_per_epoch, self.total_steps - epoch * self.steps_per_epoch)

    def run_epoch(self, epoch: int) -> tuple[dict, StepInfo]:
        """One epoch of steps on a fresh permutation; the sums of what the method returned."""
        self.model.train()
        data, bs, spe = self.data, self.bs, self.steps_per_epoch
        perm = to_device(torch.randperm(self.n, generator=self.gen), self.device)
        sums: dict[str, float] = {}
        for b in range(self.steps_in(epoch)):
            batch = make_batch(data.x_train, data.y_train, perm[b * bs:(b + 1) * bs], self.augment, self.layout)
            info = StepInfo(epoch, self.step, self.lr_at(epoch + b / spe), self.epochs, spe)
            timed = self.timer if self.step >= self.cfg["timing_warmup_steps"] else None
            take_step(self.method, batch, info, self.prec, sums, timed, self.ema, self.wstats, data.clean_mask)
            self.step += 1
        self.timer.flush()
        self.epoch_zero_weight = self.wstats.flush()   # NaN unless the method weighted samples
        return sums, info

    def evaluate_epoch(self, epoch: int, sums: dict, info: StepInfo, t_epoch: float) -> dict:
        """The epoch's line: test accuracy (of the EMA, if any, and raw), curves, dictionary purity.
        Non-finite weights or outputs raise here, once per epoch, not per step."""
        data, method, ebs, top5 = self.data, self.method, self.cfg["eval_batch_size"], bool(self.cfg["top5"])
        check_weights(self.model, epoch)
        extra = method.on_epoch_end(epoch) or {}
        dictionary = extra.pop("dictionary", None)
        pred = raw_pred = evaluate(method, data.x_test, data.y_test, ebs, self.prec, top5)
        if self.ema is not None:
            with self.ema.swapped():
                pred = evaluate(method, data.x_test, data.y_test, ebs, self.prec, top5)
        scores = accuracies(pred, data.y_test, "test")   # test_acc (and test_top5) of the EMA, if any
        if self.val is not None:   # accuracy on the held-out noisy labels: what tuning may select by
            with self.ema.swapped() if self.ema is not None else contextlib.nullcontext():
                scores["val_acc"] = float((top1(evaluate(method, *self.val, ebs, self.prec)) == self.val[1]).float().mean())
        acc, raw_acc = scores["test_acc"], float((top1(raw_pred) == data.y_test).float().mean())
        self.best_acc, self.raw_best, self.pred = max(self.best_acc, acc), max(self.raw_best, raw_acc), top1(pred)
        last = dict(epoch=epoch + 1, epochs=self.epochs, **scores, best_acc=self.best_acc, raw_test_acc=raw_acc,
                    lr=info.lr, **epoch_means(sums, self.steps_in(epoch), epoch),
                    **{k: float(v) for k, v in extra.items()}, epoch_s=time.perf_counter() - t_epoch)
        if math.isfinite(self.epoch_zero_weight):   # the epoch's point of the zero-weight curve
            last["zero_weight_ratio"] = self.epoch_zero_weight
        if dictionary is not None:
            last["dict_purity"] = float(data.clean_mask[torch.as_tensor(dictionary, device=self.device)].float().mean())
        self.history.append(last)
        self.last = last
        return last

    def state(self, epoch: int) -> dict:
        """What a checkpoint after ``epoch`` keeps (bench.trial.checkpoint)."""
        return dict(epoch=epoch + 1, step=self.step, method=self.method.state_dict(),
                    rng=checkpoint.rng_state(self.gen), best_acc=self.best_acc, raw_best=self.raw_best,
                    history=self.history, last=self.last, step_times=self.timer.times,
                    weights=self.wstats.weights, clean=self.wstats.clean,
                    ema=None if self.ema is None else self.ema.avg,
                    scaler=None if self.ctx.scaler is None else self.ctx.scaler.state_dict())

    def restore(self, saved: dict) -> None:
        """Continue a killed run of this trial where its checkpoint stopped."""
        self.method.load_state_dict(saved["method"])
        checkpoint.set_rng_state(self.gen, saved["rng"])
        self.start, self.step, self.best_acc, self.raw_best = saved["epoch"], saved["step"], saved["best_acc"], saved["raw_best"]
        self.history, self.last, self.timer.times = saved["history"], saved["last"], saved["step_times"]
        self.wstats.weights, self.wstats.clean = saved["weights"], saved["clean"]
        if self.ema is not None:
            self.ema.avg = [a.to(self.device) for a in saved["ema"]]
        if self.ctx.scaler is not None and saved.get("scaler"):
            self.ctx.scaler.load_state_dict(saved["scaler"])

    def result(self) -> dict:
        """The final metrics (further test sets, e.g. ImageNet val, evaluated once here)."""
        data, method, device, times, last = self.data, self.method, self.device, self.timer.times, self.last
        extra_acc = {}
        for name, (x, y) in data.extra_test.items():
            with self.ema.swapped() if self.ema is not None else contextlib.nullcontext():
                pred = evaluate(method, x, y, self.cfg["eval_batch_size"], self.prec, bool(self.cfg["top5"]))
                extra_acc.update(accuracies(pred, y, name))
        imbalanced = data.spec.imbalance_ratio > 1 and self.pred is not None
        return dict(
            test_acc=last["test_acc"], best_acc=self.best_acc, raw_test_acc=last["raw_test_acc"],
            raw_best_acc=self.raw_best, epochs=self.epochs,
            **({"val_acc": last["val_acc"]} if "val_acc" in last else {}),
            **({"max_steps": self.total_steps} if self.cfg["max_steps"] else {}),
            realized_noise=data.realized_noise, num_train=self.n, num_reward=len(data.y_reward),
            **{m.name: last.get(m.name, math.nan) for m in METRICS if m.source == "epoch"},
            **summarize_steps(times), peak_mem_mb=peak_memory_mb(device), device=device_name(device),
            **self.wstats.summary(),
            **(shot_accuracy(self.pred, data.y_test, data.true_class_counts()) if imbalanced else {}),
            **extra_acc, wall_s=time.perf_counter() - self.wall0, resumed_from_epoch=self.start,
            precision=self.prec, channels_last=self.layout is not None,
            # computed as it ran: each row keeps it (extra), the captured step's record included
            effective=dict(steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                           hparams=method.effective(),
                           **({"compile": self.captured.record()} if self.captured is not None else {})),
        )


def start(cfg: dict, trial_dir: str | None) -> tuple[Trial, Path | None]:
    """The trial, continued from its checkpoint if it has one that loads and fits it (one that
    does not is moved aside, and the trial starts from epoch 0); and its checkpoint's path."""
    trial, path = Trial(cfg, trial_dir), checkpoint.path_for(cfg)
    saved = checkpoint.load(path)
    if saved is not None:
        try:
            trial.restore(saved)
        except Exception as exc:   # tensors and numbers, but not this trial's state
            checkpoint.set_aside(path, exc)
            trial = Trial(cfg, trial_dir)   # afresh: the failed restore may have changed part of it
    return trial, path


def train(config: dict, report: Callable[[dict], None] | None = None, trial_dir: str | None = None) -> dict:
    """Run one trial; ``report`` gets one dict per epoch; returns the final metrics. With a
    checkpoint of this trial id (a killed run), it continues from there."""
    cfg = {**DEFAULTS, **config}
    trial, ckpt_path = start(cfg, trial_dir)
    every = int(cfg["checkpoint_every"])
    for epoch in range(trial.start, trial.epochs):
        t_epoch = time.perf_counter()
        sums, info = trial.run_epoch(epoch)
        last = trial.evaluate_epoch(epoch, sums, info, t_epoch)
        if report:
            report(dict(last))
        if ckpt_path is not None and (epoch + 1) % every == 0 and epoch + 1 < trial.epochs:
            checkpoint.save(ckpt_path, trial.state(epoch))
    result = trial.result()
    if ckpt_path is not None:
        ckpt_path.unlink(missing_ok=True)
    return result
