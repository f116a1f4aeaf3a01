"""Several methods' per-step cost interleaved round-robin in ONE process (timing drift and a
neighbour's load hit every method alike): medians, ratios to softmax in the same precision,
and the text table; ``python -m bench.costs.cost`` is its command line."""
from __future__ import annotations

import math
import statistics
import sys

import torch

from methods import METHODS
from methods import _precision as amp

from ..trial.instruments import device_name, summarize_steps
from .stepper import _timed, fsr_floor, make_runner


def compare(methods=None, model: str = "small_cnn", batch_size: int = 100, steps: int = 5,
            untimed_steps: int = 2, repeats: int = 3, hparams: dict | None = None, baseline: str = "softmax",
            variants: dict | None = None, precisions=("fp32",), **config) -> dict:
    """Several methods interleaved round-robin in ONE process: every method is built, warmed
    up (``untimed_steps`` steps each), then ``repeats`` rounds each run ``steps`` timed steps of
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
    runners, skipped = _build(configs, base_of, baseline, untimed_steps)
    times, cpu = _interleaved(runners, steps, repeats)
    out = {name: dict(**_ratios(times, cpu, name, base_of[name]), precision=runners[name].precision,
                      captured=runners[name].captured.record() if runners[name].captured is not None else None)
           for name in runners}
    device = next(iter(runners.values())).device
    return dict(config=dict(base_cfg, steps=steps, untimed_steps=untimed_steps, repeats=repeats, hparams=hparams,
                            precisions=list(precisions)),
                device=device_name(device), threads=torch.get_num_threads(), baseline=baseline,
                methods=out, skipped=skipped)


def _build(configs: dict, base_of: dict, baseline: str, untimed_steps: int) -> tuple[dict, dict]:
    """Each row's runner, built and warmed up; a row that cannot be (or whose baseline cannot
    be) is skipped with the reason, except the baseline itself, which must be."""
    runners, skipped = {}, {}
    for name, cfg in configs.items():
        try:
            runners[name] = make_runner(cfg)
        except Exception as e:  # noqa: BLE001 (reported, not raised: one broken method must not hide the rest)
            skipped[name] = f"{type(e).__name__}: {e}"
    if baseline not in runners:
        raise RuntimeError(f"bench.costs.compare: the baseline {baseline!r} cannot be built: {skipped[baseline]}")
    for name in [n for n in runners if base_of[n] not in runners]:
        skipped[name] = f"its baseline {base_of[name]} cannot be built"
        del runners[name]
    for name, r in list(runners.items()):
        try:
            for _ in range(untimed_steps):
                r.step()
            r.sync()
        except Exception as e:  # noqa: BLE001
            skipped[name] = f"{type(e).__name__} in a step: {e}"
            del runners[name]
    return runners, skipped


def _interleaved(runners: dict, steps: int, repeats: int) -> tuple[dict, dict]:
    """{name: [per-round list of step seconds]} for wall and process CPU time: ``repeats``
    rounds, each running ``steps`` timed steps of every runner in turn."""
    times = {n: [] for n in runners}
    cpu = {n: [] for n in runners}
    for _ in range(repeats):
        for name, r in runners.items():
            c: list[float] = []
            times[name].append(_timed(r, steps, c))
            cpu[name].append(c)
    return times, cpu


def _ratios(times: dict, cpu: dict, name: str, base: str) -> dict:
    """One row: median and IQR, and its ratio to ``base`` (median over rounds of the round
    medians' ratio, and pooled), on wall and on process CPU time (CPU only)."""
    med = lambda rounds: [statistics.median(r) if r else math.nan for r in rounds]
    flat = lambda rounds: [t for r in rounds for t in r]
    rounds, cpu_rounds = med(times[name]), med(cpu[name])
    rr = [m / b for m, b in zip(rounds, med(times[base]))]
    cr = [m / b for m, b in zip(cpu_rounds, med(cpu[base]))]
    has_cpu = bool(flat(cpu[name]))
    pooled = lambda d, n: statistics.median(flat(d[n]))
    return dict(**summarize_steps(flat(times[name])), ratio=statistics.median(rr), baseline=base,
                ratio_pooled=pooled(times, name) / pooled(times, base), round_ratios=rr, round_medians=rounds,
                cpu_time_s=pooled(cpu, name) if has_cpu else math.nan,
                cpu_ratio=statistics.median(cr) if has_cpu else math.nan,
                cpu_ratio_pooled=pooled(cpu, name) / pooled(cpu, base) if has_cpu else math.nan)


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
        cap = m.get("captured")
        ran = "" if cap is None else f"   [{cap['ran']}" + (f": {cap['why'][:80]}]" if cap.get("why") else
                                                         f", {cap['graphs']} graph(s), {cap['graph_breaks']} break(s)]")
        lines.append(f"{name:<{w}} {m['step_time_s']:>10.4f} {m['step_time_iqr_s']:>9.4f} {m['ratio']:>10.2f}{col} "
                     f"{m['cpu_ratio']:>7.2f}   {rr}{ran}")
    for name, why in result["skipped"].items():
        lines.append(f"{name:<{w}} skipped: {why}")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.costs.cost", description="interleaved per-step cost table")
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
        print(f"python -m bench.costs.cost: unknown precision {', '.join(bad) or args.precision!r}; "
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
