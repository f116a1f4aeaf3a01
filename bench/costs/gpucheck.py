"""``python -m bench gpu-check``: what the benchmark costs on this machine's GPU, in one command.

(a) The per-step table of every method (one row per method, the paper profile's
    hyper-parameters, its re-weighting phase) on ResNet-32 (the long-tail suite, B = 128) and
    WRN-28-10 (the label-noise suite, B = 100), in fp32 and bf16: median time per step as a
    ratio to softmax in the same precision (interleaved rounds, ``bench.costs.compare.compare``), FSR's
    ratio to its floor, and the peak GPU memory of each method measured alone.
(b) One epoch of the paper label-noise profile per method, on synthetic CIFAR-shaped data
    (50,000 samples, resident on the GPU) in the profile's precision: epoch seconds.
(c) Two trials sharing the GPU through Ray (``bench run --gpus-per-trial 0.5``): each
    trial's device and wall time, and how much of their runs overlapped.
(p) Packed trials: the aggregate steps per second of 1, 2, 4 and 8 ResNet-32 softmax trials
    (B = 128) stepping together on the GPU, each in its own process, eager and captured
    (``bench.costs.packing``); with ``--mps``, also under CUDA MPS where the machine has it.
(t) First, exactness on the device: the tangent-only pass against ``torch.func.jvp``, each
    look-ahead method's weights in bf16 against fp32, and each method's first three captured
    steps (``--compile on``) against eager ones: losses, sample weights and parameters.

``--compile off,on`` (default) repeats part (a) for each: the per-step table eager and captured
(bench.trial.capture; a method that cannot be captured shows its eager time and says why).

Without a CUDA GPU it exits 2 with one line; ``--device cpu`` forces a run on the CPU with
small settings of your choice (the tests check the output's format that way).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from methods import get_method_class
from methods._precision import PRECISIONS

from . import compare, cost, packing, stepper
from ..sweep import suites
from ..sweep.checks import UsageError, check_device_name
from ..trial.harness import resolve_device, reward_per_class, train
from ..trial.models import MODELS

# (suite, profile) whose paper settings give each network's methods, batch size and reward sizes
STEP_SUITES = {"resnet32": "long_tail", "wrn28_10": "label_noise"}


def suite_rows(suite_name: str, profile: str = "paper") -> tuple[dict, dict]:
    """(the suite's first trial config, {label: trial config}): one row per method (its first
    entry), the re-weighting phase from the first step (``reweight_start=0``)."""
    trials = suites.expand(suites.SUITES[suite_name], profile, seeds=1)
    first = trials[0]
    rows = {}
    for t in trials:
        if t["corruption"] != first["corruption"] or t["dataset"] != first["dataset"] or t["method"] in rows:
            continue
        hp = dict(t["hparams"])
        if "reweight_start" in get_method_class(t["method"]).defaults:
            hp["reweight_start"] = 0
        rows[t["method"]] = {**t, "hparams": hp}
    return first, rows


def step_table(model: str, device: str, precisions, steps: int, repeats: int, batch_size: int | None = None,
               input_shape=None, compile: str = "off", methods=None) -> str:
    """Part (a) for one network: the interleaved time table and each row's peak memory alone
    (``compile``: the steps captured or not, bench.trial.capture)."""
    first, rows = suite_rows(STEP_SUITES.get(model, "label_noise"))
    B = int(batch_size or first["batch_size"])
    shape = {"input_shape": tuple(input_shape)} if input_shape else {"dataset": first["dataset"]}
    classes = 10 if input_shape else None
    common = dict(device=device, reward_per_class=reward_per_class(first, 10), num_classes=classes, compile=compile,
                  **shape)
    untimed = 2 if compile == "off" else 4   # a captured step compiles in its first steps (and once more for
    #                                          the step numbers that change: Dynamo's automatic dynamic)
    variants = {label: {"method": cfg["method"], "hparams": cfg["hparams"]} for label, cfg in rows.items()
                if label != "softmax" and (not methods or label in methods)}
    q = int(rows["fsr"]["hparams"].get("reward_batch", 200)) if "fsr" in rows else 200
    variants["floor"] = stepper.fsr_floor(q, B)
    res = compare.compare(["softmax"], model=model, batch_size=B, steps=steps, untimed_steps=untimed, repeats=repeats,
                       variants=variants, precisions=tuple(precisions), **common)
    lines = [compare.format_table(res, "floor")]
    mem = {}
    for prec in precisions:
        tag = "" if prec == precisions[0] else f"@{prec}"
        for label in ["softmax", *variants]:
            cfg = {"method": "softmax", "hparams": {}, **variants.get(label, {})}
            try:
                got = cost.measure({**common, "model": model, "batch_size": B, "steps": 2, "untimed_steps": untimed,
                                    "precision": prec, **cfg})
                mem[label + tag] = got["peak_mem_mb"]
            except Exception as e:  # noqa: BLE001 (reported in the table)
                mem[label + tag] = f"{type(e).__name__}: {e}"
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    lines.append(f"peak memory, each alone ({res['device']}; CUDA: max allocated, data and model included)")
    for label, value in mem.items():
        base = mem.get("softmax" + (label[label.index("@"):] if "@" in label else ""))
        if isinstance(value, str):
            lines.append(f"  {label:<16} {value}")
        else:
            ratio = value / base if isinstance(base, float) and base > 0 else float("nan")
            lines.append(f"  {label:<16} {value:>10.1f} MB   x softmax {ratio:5.2f}")
    return "\n".join(lines)


def epoch_table(device: str, model: str | None = None, train_size: int = 50000, test_size: int = 10000,
                epochs: int = 1, precision: str | None = None) -> str:
    """Part (b): one (or ``epochs``) epoch(s) of each method of the paper label-noise profile on
    synthetic CIFAR-shaped data resident on the device."""
    _, rows = suite_rows("label_noise")
    lines = [f"{'method':<8} {'model':<10} {'precision':<9} {'steps':>6} {'epoch s':>9} {'ms/step':>9} "
             f"{'step ms (median)':>17}"]
    for label, cfg in rows.items():
        run = {**cfg, "dataset": "synthetic", "device": device, "epochs": epochs, "checkpoint_dir": None,
               "checkpoint_every": 0, "data_root": None, "download": False,
               "dataset_options": {"train": train_size, "test": test_size}}
        if model:
            run["model"] = model
        if precision:
            run["precision"] = precision
        seen: list[dict] = []
        try:
            out = train(run, report=seen.append)
        except Exception as e:  # noqa: BLE001
            lines.append(f"{label:<8} failed: {type(e).__name__}: {e}")
            continue
        steps = max(1, (out["num_train"]) // int(run["batch_size"]))
        last = seen[-1]["epoch_s"]
        lines.append(f"{label:<8} {run['model']:<10} {out.get('precision', '?'):<9} {steps:>6} {last:>9.2f} "
                     f"{1000 * last / steps:>9.2f} {1000 * out['step_time_s']:>17.2f}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return "\n".join(lines)


def exactness(device: str) -> str:
    """Part (t): on this device, the tangent-only pass against ``torch.func.jvp`` (fp32, batch
    statistics) on ResNet-32 and WRN-28-2, and each look-ahead method's first-step weights in
    bf16 against fp32 (the CPU tests' tolerance: max |dw| <= 0.1 max w, correlation >= 0.99)."""
    from torch.func import jvp

    from methods.base import per_sample_ce
    from methods._functional import fcall
    from methods._tangent import Recorder, ce_tangent

    from ..trial.models import build_model

    dev, lines = torch.device(device), []
    for name in ("resnet32", "wrn28_2"):
        torch.manual_seed(0)
        model = build_model(name, (3, 32, 32), 10).to(dev).train()
        x, y = torch.randn(32, 3, 32, 32, device=dev), torch.randint(10, (32,), device=dev)
        direction = {n: torch.randn_like(p) for n, p in model.named_parameters()}
        rec = Recorder(model)
        got = ce_tangent(rec.forward(x), y, rec.tangent(direction))
        params = {n: p.detach() for n, p in model.named_parameters()}
        none = {n: None for n, _ in model.named_buffers()}
        _, want = jvp(lambda p: per_sample_ce(fcall(model, p, x, none), y), (params,), (direction,))
        err = float((got - want).abs().max() / want.abs().max())
        lines.append(f"tangent pass vs torch.func.jvp, {name} fp32: max error / max |jvp| = {err:.1e}")
    for method in ("l2r", "mwn", "fsr"):
        w = {}
        for prec in ("fp32", "bf16"):
            hp = {"reweight_start": 0} if method == "fsr" else {}
            r = stepper.make_runner(dict(model="resnet32", dataset="cifar10", method=method, batch_size=128,
                                      hparams=hp, precision=prec, device=device))
            w[prec] = r.step()["weights"].float()
        dw = float((w["bf16"] - w["fp32"]).abs().max() / w["fp32"].abs().max())
        corr = float(torch.corrcoef(torch.stack([w["fp32"], w["bf16"]]))[0, 1])
        ok = "ok" if dw <= 0.1 and corr >= 0.99 else "OUTSIDE the CPU tests' tolerance"
        lines.append(f"{method} first-step weights, bf16 vs fp32 on ResNet-32 B=128: max |dw| / max w = {dw:.3f}, "
                     f"corr = {corr:.4f} ({ok})")
    return "\n".join(lines)


def capture_exactness(device: str, model: str = "resnet32", compile: str = "on", steps: int = 3,
                      methods=None, batch_size: int | None = None, input_shape=None) -> str:
    """Part (x): each method's first ``steps`` steps captured (``compile``) against eager ones from
    the same initial state (the long-tail suite's paper settings on ResNet-32, the label-noise
    suite's on another network): the largest relative difference of the step losses, of the
    sample weights and of the parameters after; and whether it ran captured (or why not)."""
    first, rows = suite_rows(STEP_SUITES.get(model, "label_noise"))
    B = int(batch_size or first["batch_size"])
    shape = {"input_shape": tuple(input_shape), "num_classes": 10} if input_shape else {"dataset": first["dataset"]}
    rel = lambda a, b: float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))
    lines = [f"captured ({compile}) vs eager, {model} B={B}, {steps} steps from one initial state: max relative "
             f"difference of the losses, the sample weights and the parameters"]
    for label, cfg in rows.items():
        if methods and label not in methods:
            continue
        got = {}
        try:
            for mode in ("off", compile):
                r = stepper.make_runner(dict(model=model, method=cfg["method"], hparams=cfg["hparams"], batch_size=B,
                                             device=device, reward_per_class=reward_per_class(first, 10),
                                             compile=mode, **shape))
                outs = [r.step() for _ in range(steps)]
                r.sync()
                got[mode] = dict(loss=torch.stack([torch.as_tensor(o["loss"]).float().cpu() for o in outs]),
                                 weights=torch.cat([o["weights"].float().cpu() for o in outs]) if "weights" in outs[0]
                                 else None,
                                 params=torch.cat([p.detach().float().flatten().cpu() for p in r.method.model.parameters()]),
                                 captured=r.captured)
        except Exception as e:  # noqa: BLE001 (reported in the table)
            lines.append(f"  {label:<8} failed: {type(e).__name__}: {str(e)[:200]}")
            continue
        e, c = got["off"], got[compile]
        rec = c["captured"].record()
        dw = f"{rel(c['weights'], e['weights']):.1e}" if e["weights"] is not None else "-"
        dl, dp = rel(c["loss"], e["loss"]), rel(c["params"], e["params"])
        ran = rec["ran"] + (f" ({rec['why'][:100]})" if rec.get("why") else f", {rec['graphs']} graph(s)")
        lines.append(f"  {label:<8} loss {dl:.1e}  weights {dw:>7}  params {dp:.1e}  {ran}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return "\n".join(lines)


def pack_table(device: str, counts=(1, 2, 4, 8), modes=("off", "on"), seconds: float = 10.0, mps: bool = False,
               model: str = "resnet32", batch_size: int = 128, input_shape=None) -> str:
    """Part (p): the aggregate steps per second of 1, 2, 4, 8 softmax trials stepping together on
    the device, each in its own process (bench.costs.packing), eager and captured; with ``mps``
    again under CUDA MPS (a control daemon of this session's own, stopped after)."""
    config = dict(model=model, method="softmax", batch_size=batch_size, device=device,
                  **({"input_shape": list(input_shape), "num_classes": 10} if input_shape else {"dataset": "cifar10"}))
    out = [packing.table(config, counts, modes, seconds, label=f"{model} B={batch_size}, time slices")]
    if mps:
        out.append(packing.with_mps(lambda env: packing.table(config, counts, modes, seconds, env=env,
                                                              label=f"{model} B={batch_size}, CUDA MPS")))
    return "\n".join(out)


def share_check(device: str, profile: str = "quick", gpus_per_trial: float = 0.5) -> str:
    """Part (c): two FSR trials through ``bench run`` with ``--gpus-per-trial`` (a fraction: they
    share the GPU); their device, wall seconds, and the overlap of their runs."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "bench", "run", "--suite", "label_noise", "--profile", profile,
               "--methods", "fsr", "--seeds", "2", "--corruptions", "uniform:0.4", "--out", tmp,
               "--gpus-per-trial", str(gpus_per_trial), "--device", device]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return f"bench run exited {proc.returncode}: " + " | ".join(tail)
        import pandas as pd

        df = pd.read_csv(Path(tmp) / "results.csv")
    start = pd.to_datetime(df["started_at"], utc=True).map(lambda t: t.timestamp())
    spans = sorted(zip(start, start + df["wall_s"]))
    overlap = max(0.0, min(e for _, e in spans) - max(s for s, _ in spans)) if len(spans) == 2 else float("nan")
    lines = [f"`{' '.join(cmd[2:])}`: {len(df)} trials, sweep {wall:.1f} s (Ray start included)"]
    for _, r in df.iterrows():
        lines.append(f"  seed {int(r['seed'])}: {r['status']}, device {r['device']}, wall {r['wall_s']:.1f} s, "
                     f"step {1000 * r['step_time_s']:.2f} ms, test acc {100 * r['test_acc']:.1f}%")
    shortest = min(e - s for s, e in spans) if spans else float("nan")
    lines.append(f"  the two trials ran side by side for {overlap:.1f} s "
                 f"({100 * overlap / shortest:.0f}% of the shorter one)")
    return "\n".join(lines)


def run(device: str = "auto", models=("resnet32", "wrn28_10"), precisions=("fp32", "bf16"), steps: int = 5,
        repeats: int = 3, epoch_model: str | None = None, train_size: int = 50000, test_size: int = 10000,
        epochs: int = 1, share_profile: str = "quick", parts: str = "txabcp", batch_size: int | None = None,
        input_shape=None, compile=("off", "on"), pack=(1, 2, 4, 8), pack_seconds: float = 10.0, mps: bool = False,
        methods=None, out=print) -> None:
    dev = resolve_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu (forced: the format only)"
    out(f"# bench gpu-check on {name}, torch {torch.__version__}"
        + (f", CUDA {torch.version.cuda}" if dev.type == "cuda" else ""))
    if "t" in parts:
        t0 = time.perf_counter()
        out("\n## (t) exactness on this device")
        out(exactness(str(dev)))
        out(f"({time.perf_counter() - t0:.0f} s)")
    captured = [c for c in compile if c != "off"] or ["on"]
    if "x" in parts:
        for model in models:
            t0 = time.perf_counter()
            out(f"\n## (x) captured steps against eager ones, {model}")
            out(capture_exactness(str(dev), model, captured[0], methods=methods, batch_size=batch_size,
                                  input_shape=input_shape))
            out(f"({time.perf_counter() - t0:.0f} s)")
    if "a" in parts:
        for model in models:
            for mode in compile:
                t0 = time.perf_counter()
                out(f"\n## (a) per-step cost, {model}, compile {mode}")
                out(step_table(model, str(dev), precisions, steps, repeats, batch_size, input_shape, mode, methods))
                out(f"({time.perf_counter() - t0:.0f} s)")
    if "b" in parts:
        t0 = time.perf_counter()
        out(f"\n## (b) one epoch of the paper label-noise profile per method, synthetic CIFAR-shaped data "
            f"({train_size} samples) on the device")
        out(epoch_table(str(dev), epoch_model, train_size, test_size, epochs))
        out(f"({time.perf_counter() - t0:.0f} s)")
    if "c" in parts:
        t0 = time.perf_counter()
        out("\n## (c) two trials sharing one GPU")
        out(share_check(str(dev) if dev.type == "cpu" else "auto", share_profile,
                        0.5 if dev.type == "cuda" else 0.0))
        out(f"({time.perf_counter() - t0:.0f} s)")
    if "p" in parts:
        t0 = time.perf_counter()
        model = models[0]
        out(f"\n## (p) packed trials: aggregate steps per second of {', '.join(map(str, pack))} softmax trials "
            f"on one device, eager and captured")
        out(pack_table(str(dev), pack, compile, pack_seconds, mps, model, batch_size or 128, input_shape))
        out(f"({time.perf_counter() - t0:.0f} s)")


PARTS = "txabcp"


def check_args(args) -> None:
    """Every name gpu-check is given exists (device, networks, precisions, parts, profile);
    a bad one raises UsageError (one line, exit 2) before anything runs."""
    check_device_name(args.device)
    if args.device.startswith("cuda:") and torch.cuda.is_available() \
            and int(args.device[5:]) >= torch.cuda.device_count():
        raise UsageError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    for option, values, known in (("--models", args.models, MODELS),
                                  ("--epoch-model", [args.epoch_model] if args.epoch_model else [None], MODELS),
                                  ("--precision", args.precision, PRECISIONS),
                                  ("--parts", list(args.parts), PARTS),
                                  ("--share-profile", [args.share_profile], suites.PROFILES),
                                  ("--compile", args.compile, ("off", "on", "aot_eager"))):
        bad = [v for v in values if v is not None and v not in known]
        if bad or not values:
            raise UsageError(f"{option}: unknown {', '.join(map(repr, bad)) or '(empty)'}; choose from "
                             f"{', '.join(known)}")


def main(args) -> int:
    """The CLI's ``gpu-check``; returns the exit status."""
    check_args(args)
    if args.device != "cpu" and not torch.cuda.is_available():
        print("bench gpu-check: no CUDA GPU on this machine (--device cpu runs it on the CPU, for its format)",
              file=sys.stderr)
        return 2
    kw = dict(device=args.device, models=args.models, precisions=args.precision, steps=args.steps,
              repeats=args.repeats, epoch_model=args.epoch_model, train_size=args.train_size,
              test_size=args.test_size, epochs=args.epochs, share_profile=args.share_profile, parts=args.parts,
              batch_size=args.batch_size, input_shape=args.input_shape, compile=args.compile, pack=args.pack,
              pack_seconds=args.pack_seconds, mps=args.mps, methods=args.methods)
    lines: list[str] = []

    def out(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    run(**kw, out=out)
    if args.save:
        Path(args.save).write_text("\n".join(lines) + "\n")
        print(json.dumps({"saved": args.save}))
    return 0


def positive(text: str) -> int:
    if int(text) < 1:
        raise ValueError(text)
    return int(text)


def add_parser(sub) -> None:
    """The ``gpu-check`` sub-command's options (defaults: the paper's networks and sizes)."""
    csv = lambda text: [t.strip() for t in text.split(",") if t.strip()]

    g = sub.add_parser("gpu-check", help="exactness, per-step tables eager and captured, one paper epoch per "
                                         "method, trials sharing a GPU, packed trials' throughput, on this "
                                         "machine's GPU")
    g.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu (forced: small settings, format)")
    g.add_argument("--models", type=csv, default=["resnet32", "wrn28_10"], help="networks of part (a)")
    g.add_argument("--precision", type=csv, default=["fp32", "bf16"], help="precisions of part (a)")
    g.add_argument("--steps", type=positive, default=5, help="timed steps per round in part (a)")
    g.add_argument("--repeats", type=positive, default=3, help="interleaved rounds in part (a)")
    g.add_argument("--batch-size", type=positive, help="part (a)'s batch (default: the suite's)")
    g.add_argument("--input-shape", type=lambda t: tuple(int(v) for v in t.split("x")),
                   help="part (a)'s input shape, e.g. 1x40 (default: CIFAR's)")
    g.add_argument("--epoch-model", help="part (b)'s network (default: the profile's, WRN-28-10)")
    g.add_argument("--train-size", type=positive, default=50000, help="part (b)'s synthetic training samples")
    g.add_argument("--test-size", type=positive, default=10000)
    g.add_argument("--epochs", type=positive, default=1, help="part (b)'s epochs per method (the last is shown)")
    g.add_argument("--share-profile", default="quick", help="part (c)'s profile (two FSR trials)")
    g.add_argument("--parts", default=PARTS, help="which of t (exactness), x (captured steps vs eager), a, b, c, "
                                                  "p (packed trials) to run (letters, e.g. ab)")
    g.add_argument("--compile", type=csv, default=["off", "on"],
                   help="part (a) once per setting (off, on, aot_eager); part (x) checks the first captured one")
    g.add_argument("--pack", type=lambda t: [positive(v) for v in csv(t)], default=[1, 2, 4, 8],
                   help="part (p)'s numbers of packed trials")
    g.add_argument("--pack-seconds", type=float, default=10.0, help="part (p)'s timed seconds per measurement")
    g.add_argument("--methods", type=csv, help="parts (a) and (x): only these of the suites' methods (default: all)")
    g.add_argument("--mps", action="store_true", help="part (p) again under CUDA MPS, where the machine has it")
    g.add_argument("--save", help="also write the output to this file")
