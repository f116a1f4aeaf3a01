"""Per-step cost of a method: median seconds per training step and peak memory, on fixed
synthetic inputs, each also as a ratio to plain softmax on the same network and batch.

Two entry points:

- ``measure(config) -> dict``: one method in this process (the Ray ``cost`` suite runs each
  trial in a fresh process, which is what makes its memory figure honest on a CPU).
- ``bench.costs.compare.compare(methods, model, ...) -> dict``: several methods interleaved
  round-robin in ONE process (timing drift and neighbours' load hit every method alike), medians
  and ratios to softmax; ``bench.costs.compare.format_table`` prints it. ``python -m bench.costs.cost [model]
  [methods...]`` runs it.

FSR's cost floor (a plain step plus one no-grad forward of its q reward samples joined to
the B un-mixed training samples, BatchNorm on that batch's statistics, as the reference
margin needs) is the softmax step with ``extra_forward=q + B, extra_forward_bn="batch"``.
``python -m bench.costs.cost resnet32 fsr --floor 200`` adds it to the table (q = 200), with each
row's ratio to it.

What is timed is ``method.update(batch, info)``, one whole optimisation step, on batches cut
from a synthetic training set resident on the device (no augmentation, no data loading).
Methods with a warm-up phase (FSR's ``reweight_start``) are measured in their active phase:
``reweight_start=0`` unless the config's hparams say otherwise. Epoch-end work (FSR's
dictionary refresh) is not part of a step and is not timed.
"""
from __future__ import annotations

import math
import statistics
import time

from .compare import main
from ..trial.instruments import MemoryProbe, device_name, summarize_steps
from .stepper import _config, _timed, make_runner


def measure(config: dict, strict: bool = True) -> dict:
    """Median seconds per training step and peak memory of one method on fixed synthetic data.

    Config keys (all optional; unknown keys are an error, or ignored with ``strict=False``,
    e.g. for a whole trial config):
      model            network name of bench.trial.models (default "small_cnn")
      dataset          a registered data set's name, for its shape and class count only
                       (mnist1d, digits, cifar10, cifar100; nothing is loaded)
      input_shape      per-sample shape; default from dataset, else by model:
                       (1, 40) small nets, (3, 32, 32) CIFAR nets
      num_classes      C (default from dataset, else 10)
      batch_size       B (default 100)
      method           registry name (default "softmax")
      hparams          the method's hyper-parameters (dict). FSR-like methods get
                       reweight_start=0 unless given, so the re-weighting step is what is timed
                       (L2R and MWN: reward_batch, their clean batch, default 100;
                       FSR: reward_batch q, default 200)
      reward_per_class clean reward-set size per class (default 10, i.e. 100 samples at C=10)
      num_train        synthetic training-set size (default max(10 B, 10 q, 20 C))
      extra_forward    before each step, a no-grad forward of this many other synthetic
                       samples (default 0; FSR's floor: softmax with q + B)
      extra_forward_bn its BatchNorm: "eval" (default) or "batch" (batch statistics, running
                       ones untouched: FSR's floor)
      steps, untimed_steps   timed steps (default 15) after untimed steps (default 3)
      device           "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
      seed             data, initial weights and the methods' generators (default 0)
      threads          torch.set_num_threads(threads) before building; process-wide and left
                       so (default None: leave the process's setting)
      optim            SGD settings (default lr 0.1, momentum 0.9, weight decay 5e-4)
      precision        fp32 (default), bf16, fp16 or auto (methods._precision)
      channels_last    auto (2-D networks on CUDA), True or False

    Returns a dict: step_time_s (median of the timed steps), step_time_iqr_s,
    peak_mem_mb (CUDA: max_memory_allocated over warm-up + timed steps; CPU: growth of the
    peak resident set over them relative to the RSS just before the first step, see
    MemoryProbe for the caveats), mem_baseline_mb, mem_mode, device (name), method, model,
    input_shape, num_classes, batch_size, steps, untimed_steps, num_params, wall_s; and ``effective``,
    a dict: the hyper-parameters the runner or the method changed from those asked, its steps per epoch.
    Timing: host clock on CPU; CUDA events read after one synchronisation on GPU.
    """
    wall0 = time.perf_counter()
    cfg = _config(config, strict)
    runner = make_runner(cfg)
    probe = MemoryProbe(runner.device)
    probe.start()
    for _ in range(int(cfg["untimed_steps"])):
        runner.step()
    runner.sync()
    cpu: list[float] = []
    times = _timed(runner, int(cfg["steps"]), cpu)
    mem = probe.stop()
    method = runner.method
    asked = {**type(method).defaults, **cfg["hparams"]}   # what ran where the runner chose (reweight_start=0)
    effective = {"hparams": {**{k: v for k, v in method.hp.items() if asked.get(k) != v}, **method.effective()},
                 "steps_per_epoch": runner.steps_per_epoch}
    return dict(effective=effective, **summarize_steps(times), cpu_time_s=statistics.median(cpu) if cpu else math.nan, **mem,
                device=device_name(runner.device), method=cfg["method"], precision=runner.precision,
                model=cfg["model"], input_shape=list(cfg["input_shape"]), num_classes=cfg["num_classes"],
                batch_size=int(cfg["batch_size"]), steps=len(times),
                untimed_steps=int(cfg["untimed_steps"]), num_params=sum(p.numel() for p in runner.method.model.parameters()),
                wall_s=time.perf_counter() - wall0)


if __name__ == "__main__":
    raise SystemExit(main())
