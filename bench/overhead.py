"""What the harness costs beyond the training itself: its softmax step (batch, method,
diagnostics, exactly as ``bench.harness.train`` runs them) against a bare PyTorch loop of the
same network, batch, optimiser and augmentation, interleaved in one process.

``python -m bench.overhead [model ...]`` prints the table (default small_cnn and resnet32).
"""
from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

import datasets
from methods import Context, StepInfo, get_method_class

from . import allocator
from .cost import DEFAULT_SHAPES, device_name
from .harness import StepTimer, make_batch, resolve_device, take_step
from .models import build_model

OPTIM = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False)


def _augmentation(shape) -> str:
    return "crop_flip" if len(shape) == 3 else "none"   # as the harness's CIFAR / MNIST-1D data


def overhead(model: str = "small_cnn", batch_size: int = 100, steps: int = 20, repeats: int = 5,
             warmup: int = 3, device: str = "auto", seed: int = 0, num_classes: int = 10) -> dict:
    """Median seconds per step of the harness's softmax step and of a bare loop, and their ratio
    (median over rounds of the per-round ratio; each round runs both, in alternating order)."""
    allocator.tune()
    dev = resolve_device(device)
    shape = DEFAULT_SHAPES[model]
    gen = torch.Generator().manual_seed(seed)
    n = 10 * batch_size
    x = torch.randn(n, *shape, generator=gen).to(dev)
    y = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)].to(dev)
    aug_fn = datasets.augment.AUGMENTATIONS[_augmentation(shape)]
    models = []
    for _ in range(2):   # the same initial weights for both
        torch.manual_seed(seed)
        models.append(build_model(model, shape, num_classes).to(dev).train())
    steps_per_epoch = n // batch_size

    # the harness: its batch, its method (softmax), its step with the timer and the diagnostics
    hgen = torch.Generator().manual_seed(seed)
    augment = lambda t, generator=None: aug_fn(t, generator=hgen if generator is None else generator)
    ctx = Context(num_classes=num_classes, class_counts=torch.bincount(y.cpu(), minlength=num_classes),
                  num_train=n, epochs=10**6, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                  optim=dict(OPTIM), train_x=x, train_y=y, augment=augment, generator=hgen, device=dev)
    method = get_method_class("softmax")(models[0], ctx)
    timer, sums, count = StepTimer(dev), {}, [0]

    def harness_step():
        k = count[0]
        idx = torch.arange((k % steps_per_epoch) * batch_size, (k % steps_per_epoch + 1) * batch_size, device=dev)
        batch = make_batch(x, y, idx, augment)
        info = StepInfo(k // steps_per_epoch, k, OPTIM["lr"], 10**6, steps_per_epoch)
        take_step(method, batch, info, "fp32", sums, timer)
        count[0] += 1

    # the bare loop: what anyone would write
    bare_model = models[1]
    opt = torch.optim.SGD(bare_model.parameters(), **OPTIM)
    bgen, bcount = torch.Generator().manual_seed(seed), [0]

    def bare_step():
        k = bcount[0] % steps_per_epoch
        xb = aug_fn(x[k * batch_size:(k + 1) * batch_size], generator=bgen)
        loss = F.cross_entropy(bare_model(xb), y[k * batch_size:(k + 1) * batch_size])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        bcount[0] += 1

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

    for _ in range(warmup):
        harness_step()
        bare_step()
    rounds, h_all, b_all = [], [], []
    for r in range(repeats):
        order = (harness_step, bare_step) if r % 2 == 0 else (bare_step, harness_step)
        got = {fn: timed(fn) for fn in order}
        h, b = got[harness_step], got[bare_step]
        h_all += h
        b_all += b
        rounds.append(statistics.median(h) / statistics.median(b))
    return dict(model=model, batch_size=batch_size, device=device_name(dev), threads=torch.get_num_threads(),
                harness_s=statistics.median(h_all), bare_s=statistics.median(b_all),
                ratio=statistics.median(rounds), round_ratios=rounds, steps=steps, repeats=repeats)


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
    ap = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["small_cnn", "resnet32"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in DEFAULT_SHAPES]
    if unknown:
        print(f"python -m bench.overhead: unknown model {unknown[0]!r}; known: {', '.join(DEFAULT_SHAPES)}",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(format_rows([overhead(m, steps=args.steps, repeats=args.repeats, device=args.device)
                       for m in args.models]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
