"""What the harness costs beyond the training itself: its softmax step (batch, method,
diagnostics, exactly as ``bench.trial.harness.train`` runs them) against a bare PyTorch loop of the
same network, batch, optimiser and augmentation, interleaved in one process.

``python -m bench.costs.overhead [model ...]`` prints the table (default small_cnn and resnet32).
"""
from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

import datasets
from methods import StepInfo
from methods.base import SGD

from ..trial import allocator
from ..trial.harness import build_method, make_batch, resolve_device, take_step
from ..trial.instruments import StepTimer, device_name
from ..trial.models import INPUT_SHAPES, build_model

OPTIM = dict(SGD)


def _augmentation(shape) -> str:
    return "crop_flip" if len(shape) == 3 else "none"   # as the harness's CIFAR / MNIST-1D data


def overhead(model: str = "small_cnn", batch_size: int = 100, steps: int = 20, repeats: int = 5,
             untimed_steps: int = 3, device: str = "auto", seed: int = 0, num_classes: int = 10) -> dict:
    """Median seconds per step of the harness's softmax step and of a bare loop, and their ratio
    (median over rounds of the per-round ratio; each round runs both, in alternating order)."""
    allocator.tune()
    dev = resolve_device(device)
    shape = INPUT_SHAPES[model]
    gen = torch.Generator().manual_seed(seed)
    n = 10 * batch_size
    x = torch.randn(n, *shape, generator=gen).to(dev)
    y = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)].to(dev)
    models = []
    for _ in range(2):   # the same initial weights for both
        torch.manual_seed(seed)
        models.append(build_model(model, shape, num_classes).to(dev).train())
    steps_fns = {"harness": harness_loop(models[0], x, y, batch_size, seed),
                 "bare": bare_loop(models[1], x, y, batch_size, seed)}
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    def timed(fn) -> list[float]:
        out = []
        for _ in range(steps):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - t0)
        return out

    for _ in range(untimed_steps):
        for fn in steps_fns.values():
            fn()
    rounds, got = [], {"harness": [], "bare": []}
    for r in range(repeats):
        order = ["harness", "bare"] if r % 2 == 0 else ["bare", "harness"]
        this = {name: timed(steps_fns[name]) for name in order}
        for name, t in this.items():
            got[name] += t
        rounds.append(statistics.median(this["harness"]) / statistics.median(this["bare"]))
    return dict(model=model, batch_size=batch_size, device=device_name(dev), threads=torch.get_num_threads(),
                harness_s=statistics.median(got["harness"]), bare_s=statistics.median(got["bare"]),
                ratio=statistics.median(rounds), round_ratios=rounds, steps=steps, repeats=repeats)


def harness_loop(model, x, y, batch_size: int, seed: int):
    """One step of the harness per call: its batch, its softmax method, its timed step and diagnostics."""
    n, dev = len(y), x.device
    num_classes, steps_per_epoch = int(y.max()) + 1, len(y) // batch_size
    aug_fn = datasets.augment.AUGMENTATIONS[_augmentation(tuple(x.shape[1:]))]
    gen = torch.Generator().manual_seed(seed)
    augment = lambda t, generator=None: aug_fn(t, generator=gen if generator is None else generator)
    method = build_method("softmax", model, {}, num_classes=num_classes,
                          class_counts=torch.bincount(y.cpu(), minlength=num_classes), num_train=n, epochs=10**6,
                          steps_per_epoch=steps_per_epoch, batch_size=batch_size, optim=dict(OPTIM), train_x=x,
                          train_y=y, augment=augment, seed=seed, device=dev)
    timer, sums, count = StepTimer(dev), {}, [0]

    perm = torch.randperm(n, generator=gen).to(dev)   # as the harness draws an epoch's order

    def step():
        k = count[0]
        idx = perm[(k % steps_per_epoch) * batch_size:(k % steps_per_epoch + 1) * batch_size]
        batch = make_batch(x, y, idx, augment)
        take_step(method, batch, StepInfo(k // steps_per_epoch, k, OPTIM["lr"], 10**6, steps_per_epoch),
                  "fp32", sums, timer)
        count[0] += 1
    return step


def bare_loop(model, x, y, batch_size: int, seed: int):
    """One step of a bare PyTorch loop per call: what anyone would write (a shuffled batch,
    augmented, cross-entropy, SGD, the loss logged)."""
    aug_fn = datasets.augment.AUGMENTATIONS[_augmentation(tuple(x.shape[1:]))]
    opt = torch.optim.SGD(model.parameters(), **OPTIM)
    gen, count, steps_per_epoch = torch.Generator().manual_seed(seed), [0], len(y) // batch_size
    perm = torch.randperm(len(y), generator=gen).to(x.device)

    def step():
        k = count[0] % steps_per_epoch
        idx = perm[k * batch_size:(k + 1) * batch_size]
        xb = aug_fn(x[idx], generator=gen)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        count[0] += 1
    return step


def format_rows(rows: list[dict]) -> str:
    lines = ["harness overhead: the harness's softmax step against a bare PyTorch loop (same network, batch B, "
             "SGD, augmentation), interleaved in one process",
             f"{'model':<10} {'B':>4} {'device':<8} {'threads':>7} {'harness s':>10} {'bare s':>10} "
             f"{'harness/bare':>12}   per round"]
    for r in rows:
        rr = ", ".join(f"{x:.3f}" for x in r["round_ratios"])
        lines.append(f"{r['model']:<10} {r['batch_size']:>4} {r['device'][:8]:<8} {r['threads']:>7} "
                     f"{r['harness_s']:>10.4f} {r['bare_s']:>10.4f} {r['ratio']:>12.3f}   {rr}")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.costs.overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["small_cnn", "resnet32"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in INPUT_SHAPES]
    if unknown:
        print(f"python -m bench.costs.overhead: unknown model {unknown[0]!r}; known: {', '.join(INPUT_SHAPES)}",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(format_rows([overhead(m, steps=args.steps, repeats=args.repeats, device=args.device)
                       for m in args.models]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
