"""Command line: ``python -m bench run | tune | report | list | data``.

Every check of the user's input happens before anything is written; a bad input ends with
one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import datasets
from methods import METHODS, get_method_class, plugin_methods

from .sweep import cluster, overrides, store, suites, tune
from .costs import gpucheck
from .sweep.checks import UsageError, check_data, check_device, check_methods, check_trials


MAX_TRIALS = 1000   # a larger grid needs --yes


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage; one line is enough
        raise UsageError(message)


def _csv_list(text: str) -> list[str]:
    """Comma-separated names, each once, in order; an empty list is an error."""
    items = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not items:
        raise argparse.ArgumentTypeError(f"empty list {text!r}")
    return items


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def build_parser() -> Parser:
    p = Parser(prog="python -m bench", description="Benchmark of sample re-weighting methods.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    r = sub.add_parser("run", help="run a suite through Ray Tune, appending to DIR/results.csv")
    r.add_argument("--suite", required=True, help="suite name (see `list`)")
    r.add_argument("--profile", default="quick", help="smoke | quick (default) | paper")
    r.add_argument("--methods", type=_csv_list, help="comma-separated subset of the suite's methods")
    r.add_argument("--corruptions", type=_csv_list, help="comma-separated corruption specs replacing the suite's grid")
    r.add_argument("--dataset", help="override the profile's data set")
    r.add_argument("--seeds", type=int, help="number of seeds (0..N-1); default by profile")
    r.add_argument("--out", default="results", help="results directory (default: results/)")
    r.add_argument("--resume", action="store_true", help="complete a sweep: run only trials not yet finished")
    r.add_argument("--address", help="HOST:PORT of a Ray cluster to join (default: start one on this machine); "
                                     "auto: RAY_ADDRESS, else the cluster `ray start` last started here (never "
                                     "another Ray process found running). Refused unless it answers within "
                                     f"{cluster.CONNECT_TIMEOUT_S:g} s with room for a trial now")
    r.add_argument("--gpus-per-trial", type=_finite, default=0.0)
    r.add_argument("--local", type=int, metavar="N",
                   help="run without Ray, N trials at once in their own processes (N share a GPU): for a machine "
                        "without Ray (bench.sweep.local)")
    r.add_argument("--cpus-per-trial", type=_finite, default=None,
                   help="CPUs (and torch threads) per trial, at least 0.0001 (Ray's unit); default 1, the cost "
                        "suite: all of this machine's, one trial at a time so that no step is timed beside another")
    r.add_argument("--storage", help="Ray Tune storage path for trial directories (default: DIR/ray)")
    r.add_argument("--data-root", help="where CIFAR / image-folder data live")
    r.add_argument("--download", action="store_true", help="download the data set if missing")
    r.add_argument("--imagenet-root", help="webvision: a folder SYNSET/*.JPEG of ImageNet validation images, "
                                           "for the ImageNet accuracy on the same classes")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda")
    r.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"),
                   help="the steps' precision (default by profile: fp32; paper: auto = bf16 on a CUDA GPU)")
    r.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                   help="channels-last layout (default auto: 2-D networks on CUDA)")
    r.add_argument("--compile", choices=("off", "on", "aot_eager", "auto"), default="off",
                   help="capture each training step with torch.compile (on: CUDA graphs on a GPU; a method that "
                        "cannot be captured runs eagerly and its row says why; aot_eager: a check, no speed-up; "
                        "default off)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting or a hyper-parameter, e.g. epochs=5, model=small_cnn_fast, optim.lr=0.05, "
                        "fsr.dictionary_size=400 (repeatable; recorded in each trial's config)")
    r.add_argument("--verbose", action="store_true", help="show Ray's own status output and worker logs")
    r.add_argument("--yes", action="store_true", help=f"run a grid of more than {MAX_TRIALS} trials")
    r.add_argument("--dry-run", action="store_true",
                   help="print the expanded trials (one JSON object per line) and run nothing")

    t = sub.add_parser("tune", help="search each method's hyper-parameters with one budget (Ray Tune, ASHA), "
                                    "pick one by a rule, run it with all seeds")
    t.add_argument("--suite", required=True, help="suite name (see `list`)")
    t.add_argument("--budget", type=int, required=True, help="configurations per method and corruption")
    t.add_argument("--rule", choices=tuple(tune.RULES), default="noisy-val",
                   help="noisy-val (default: a held-out split with its noisy labels) | oracle (clean test labels)")
    t.add_argument("--profile", default="quick", help="smoke | quick (default) | paper")
    t.add_argument("--methods", type=_csv_list, help="comma-separated subset of the suite's methods")
    t.add_argument("--corruptions", type=_csv_list, help="comma-separated corruption specs replacing the suite's grid")
    t.add_argument("--dataset", help="override the profile's data set")
    t.add_argument("--data-root", help="where CIFAR / image-folder data live")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting or hyper-parameter fixed in every configuration, e.g. model=small_cnn_fast "
                        "(not one the search draws)")
    t.add_argument("--out", default="results", help="results directory; the search's own rows in DIR/tune/RULE/")
    t.add_argument("--resume", action="store_true", help="complete a killed tune run")
    t.add_argument("--cpus-per-trial", type=_finite, default=1.0)
    t.add_argument("--verbose", action="store_true")

    rep = sub.add_parser("report", help="tables and plots from DIR/results.csv into DIR/report/")
    rep.add_argument("--out", default="results")
    rep.add_argument("--format", type=_csv_list, default=["md"], help="comma-separated: md, tex, csv")

    sub.add_parser("list", help="suites, methods, data sets and profiles")
    gpucheck.add_parser(sub)

    d = sub.add_parser("data", help="describe a data set after corruption")
    d.add_argument("--dataset", default=datasets.DEFAULT)
    d.add_argument("--corruption", default="clean")
    d.add_argument("--seed", type=_natural, default=0)
    d.add_argument("--reward-per-class", type=_natural, default=0)
    d.add_argument("--data-root")
    d.add_argument("--download", action="store_true")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def cmd_list(args) -> int:
    print("suites:")
    for s in suites.SUITES.values():
        print(f"  {s.name:<13} {s.description}  [methods: {', '.join(s.methods())}]")
    print("methods:   " + ", ".join([*METHODS, *plugin_methods()]) + "  (or package.module:Class)")
    print("datasets:  " + ", ".join(datasets.DATASETS) + f"  (default: {datasets.DEFAULT})")
    print("profiles:  " + ", ".join(suites.PROFILES))
    print("tuning (bench tune): every method " + _space_line(tune.SHARED_SPACE))
    for name, cls in METHODS.items():
        print(f"  {name:<8} {_space_line(cls.search_space) or '(the shared settings only)'}")
    return 0


def _space_line(space: dict) -> str:
    return ", ".join(f"{k} {r}" for k, r in space.items())


def _with_own_methods(suite, names) -> "suites.Suite":
    """The suite with an entry (default hyper-parameters) for each named method it lacks: a
    built-in or installed one by name, a user's own as package.module:Class."""
    extra = []
    for m in names:
        if m in suite.methods():
            continue
        try:
            cls = get_method_class(m)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
        except ValueError as e:
            raise UsageError(str(e)) from None
        extra.append(suites.Entry(m, variant=cls.__name__ if ":" in m else ""))
    return suites.Suite(**{**vars(suite), "entries": suite.entries + extra}) if extra else suite


def _validate_run(args) -> list[dict]:
    if args.suite not in suites.SUITES:
        raise UsageError(f"unknown suite {args.suite!r}; known: {', '.join(suites.SUITES)}")
    if args.profile not in suites.PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; known: {', '.join(suites.PROFILES)}")
    suite = _with_own_methods(suites.SUITES[args.suite], args.methods or [])
    check_methods(suite, [m for m in suite.methods() if not args.methods or m in args.methods])
    if args.dataset and args.dataset not in datasets.DATASETS:
        raise UsageError(f"unknown dataset {args.dataset!r}; known: {', '.join(datasets.DATASETS)}")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if args.local is not None and (args.local < 1 or args.address):
        raise UsageError("--local N runs N >= 1 trials at once on this machine, without Ray (not with --address)")
    if args.cpus_per_trial is None:
        args.cpus_per_trial = float(os.cpu_count() or 1) if suite.task == "cost" else 1.0
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        raise UsageError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    check_device(args)
    cluster.check_request(args)
    if args.corruptions:
        try:
            specs = list(dict.fromkeys(str(datasets.parse(c)) for c in args.corruptions))  # each once
            suite = suites.Suite(**{**vars(suite), "corruptions": specs})
        except datasets.SpecError as e:
            raise UsageError(str(e)) from None
    data_root = str(Path(args.data_root).resolve()) if args.data_root else None
    options = {"imagenet_root": str(Path(args.imagenet_root).resolve())} if args.imagenet_root else None
    sets = overrides.parse_sets(args.set, args.methods or suite.methods())
    trials = suites.expand(suite, args.profile, methods=args.methods, dataset=args.dataset, seeds=args.seeds,
                           data_root=data_root, download=args.download, device=args.device, dataset_options=options,
                           checkpoint_dir=str((Path(args.out) / "checkpoints").resolve()),
                           precision=args.precision, channels_last=args.channels_last,
                           compile=args.compile, sets=sets)
    if not trials:
        raise UsageError(f"no trial in this grid (human:NAME runs on its own CIFAR data set only: "
                         f"{', '.join(f'{k} on {d}' for k, (d, _) in datasets.corruptions.HUMAN_LABELS.items())})")
    check_trials(trials)   # every setting and hyper-parameter in its domain, whatever gave it
    if options and any(t["dataset"] != "webvision" for t in trials):
        raise UsageError("--imagenet-root is for the webvision data set only")
    if len(trials) > MAX_TRIALS and not args.yes and not args.dry_run:
        raise UsageError(f"the grid has {len(trials)} trials (more than {MAX_TRIALS}); pass --yes to run it "
                         "(or --dry-run to see it)")
    if not args.dry_run:  # fail early (and download once, here) if data are missing; cost trials use shapes only
        cluster.check_cluster(args)   # --address: a bounded connect, and room for a trial
        check_data(trials, data_root, args.download, options)
    return suites.with_data_identity(trials)   # the data as they lie now, after any download


def _validate_tune(args) -> list[dict]:
    """The searches of a tune run: one group per (method, corruption, data set) with its trials."""
    if args.suite not in suites.SUITES or suites.SUITES[args.suite].task != "train":
        raise UsageError(f"unknown suite {args.suite!r} for tuning; known: "
                         f"{', '.join(n for n, s in suites.SUITES.items() if s.task == 'train')}")
    if args.profile not in suites.PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; known: {', '.join(suites.PROFILES)}")
    if args.budget < 1:
        raise UsageError(f"--budget must be at least 1, not {args.budget}")
    if args.cpus_per_trial <= 0:
        raise UsageError("--cpus-per-trial must be > 0")
    if args.dataset and args.dataset not in datasets.DATASETS:
        raise UsageError(f"unknown dataset {args.dataset!r}; known: {', '.join(datasets.DATASETS)}")
    suite = _with_own_methods(suites.SUITES[args.suite], args.methods or [])
    names = args.methods or suite.methods()
    check_methods(suite, names)
    try:
        corruptions = list(dict.fromkeys(str(datasets.parse(c)) for c in args.corruptions or
                                          suites.resolve(suite.corruptions, args.profile)))
    except datasets.SpecError as e:
        raise UsageError(str(e)) from None
    args.suite_obj = suite
    data_root = str(Path(args.data_root).resolve()) if args.data_root else None
    args.expand_kw = dict(checkpoint_dir=str((Path(args.out) / "checkpoints").resolve()), data_root=data_root)
    fixed = overrides.parse_sets(args.set, names)
    groups = {}
    for m in names:
        for c in corruptions:
            for t in tune.search_trials(suite, args.profile, m, get_method_class(m), c, args.budget, fixed,
                                        dataset=args.dataset, data_root=data_root):
                groups.setdefault((m, c, t["dataset"]), []).append(t)
    trials = [t for g in groups.values() for t in g]
    if not trials:
        raise UsageError("no trial in this search")
    if any(not t.get("epochs") for t in trials):
        raise UsageError("tuning needs a run by epochs (the scheduler's time), not by steps")
    check_trials(trials)   # every drawn value in its domain and together with the others
    check_data(trials, data_root, False, None)
    return [dict(method=m, corruption=c, dataset=d, trials=suites.with_data_identity(ts))
            for (m, c, d), ts in groups.items()]


def cmd_tune(args) -> int:
    store.exists_as(args.out, "directory")
    groups = _validate_tune(args)
    lock = _lock_store(args.out)
    try:
        return tune.run(args, groups)
    except KeyboardInterrupt:
        print("bench: interrupted; rerun with --resume to complete the tune run", file=sys.stderr)
        return 130
    finally:
        lock.release()


def _todo(args, trials: list[dict]) -> tuple[list[dict], int]:
    """The trials without a finished row in the store (read under the sweep's lock, after the
    rows a sweep kept aside while results.csv could not be written are merged by --resume)."""
    store.check_writable(args.out)
    why = store.header_difference(args.out)
    if why:
        raise UsageError(why)
    if store.exists_as(store.pending_path(args.out)) and not args.resume:
        raise UsageError(f"{store.pending_path(args.out)} holds rows not yet in results.csv; pass --resume to "
                         "merge them and complete the sweep")
    if args.resume and store.merge_pending(args.out):
        print(f"merged {store.pending_path(args.out)} into {store.results_path(args.out)}", flush=True)
    done = store.finished_ids(args.out)
    already = [t for t in trials if t["trial_id"] in done]
    if already and not args.resume:
        raise UsageError(f"{store.results_path(args.out)} already holds {len(already)} finished trial(s) of this "
                         "sweep; pass --resume to complete it, or choose another --out")
    return [t for t in trials if t["trial_id"] not in done], len(already)


def _lock_store(out) -> "filelock.FileLock":
    """One sweep writes a store at a time: a lock on DIR held for the whole run; a second sweep
    on the same DIR is refused at once, naming the process that holds it."""
    import filelock

    out = Path(out)
    if store.exists_as(out, "directory"):
        for name in (".sweep.lock", ".sweep.pid"):   # each a regular file or none (a FIFO would block)
            store.exists_as(out / name)
    lock = filelock.FileLock(str(out / ".sweep.lock"))
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
        if not os.access(out, os.W_OK):
            raise PermissionError(f"{out} is not writable")
    except filelock.Timeout:
        holder = (out / ".sweep.pid").read_text().strip() if (out / ".sweep.pid").exists() else "?"
        raise UsageError(f"another sweep (process {holder}) is writing {out}; wait for it or choose "
                         "another --out") from None
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    (out / ".sweep.pid").write_text(f"{os.getpid()}\n")
    return lock


def _json_safe(value):
    """``value`` with each non-finite float as the string "Infinity", "-Infinity" or "NaN", so that
    --dry-run prints standard JSON (trial ids are computed from the configs as they are)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return [_json_safe(v) for v in value] if isinstance(value, (list, tuple)) else value


def cmd_run(args) -> int:
    store.exists_as(args.out, "directory")   # --out: a directory or none yet (not a file, a loop, a long name)
    trials = _validate_run(args)      # every check of the input before the store directory is touched
    if args.dry_run:
        for t in trials:
            print(json.dumps(_json_safe(t), sort_keys=True, allow_nan=False))
        print(f"{args.suite} ({args.profile}): {len(trials)} trial(s); nothing run", file=sys.stderr)
        return 0
    lock = _lock_store(args.out)
    try:
        return _run_locked(args, trials)
    finally:
        lock.release()


def _run_locked(args, trials) -> int:
    todo, skipped = _todo(args, trials)
    if args.local:
        return _run_local(args, todo, skipped)
    from .sweep.runner import run_trials  # imports Ray: only once the input is known to be good

    print(f"{args.suite} ({args.profile}): {len(todo)} trial(s) to run"
          + (f", {skipped} already finished" if skipped else "") + f" -> {store.results_path(args.out)}"
          + (f" (on the Ray cluster at {args.address})" if args.address else ""),
          flush=True)
    t0 = time.time()
    cost = suites.SUITES[args.suite].task == "cost"
    from .sweep.runner import ResourceError, experiment_name

    try:
        cb = run_trials(todo, args.out, name=experiment_name(args.suite, args.profile),
                        address=args.address, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                        storage=str(Path(args.storage).resolve()) if args.storage else None, verbose=args.verbose,
                        max_concurrent=1 if cost else 0, reuse_workers=not cost)
    except ResourceError as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        done = len(store.finished_ids(args.out) & {t["trial_id"] for t in trials})
        print(f"bench: interrupted: {done} of {len(trials)} finished; rerun with --resume", file=sys.stderr)
        return 130
    print(f"finished {cb.done}/{len(todo)} trial(s), {cb.failed} failed, in {time.time() - t0:.0f}s; "
          f"`python -m bench report --out {args.out}` makes the tables", flush=True)
    if cb.done < len(todo):
        return 1
    return 1 if cb.failed else 0


def _run_local(args, todo, skipped) -> int:
    from .sweep import local

    print(f"{args.suite} ({args.profile}): {len(todo)} trial(s) to run without Ray, {args.local} at once"
          + (f", {skipped} already finished" if skipped else "") + f" -> {store.results_path(args.out)}", flush=True)
    t0 = time.time()
    try:
        got = local.run_trials(todo, args.out, parallel=args.local, threads=max(1, int(args.cpus_per_trial)))
    except KeyboardInterrupt:
        print("bench: interrupted; rerun with --resume", file=sys.stderr)
        return 130
    print(f"finished {got.done}/{len(todo)} trial(s), {got.failed} failed, in {time.time() - t0:.0f}s; "
          f"`python -m bench report --out {args.out}` makes the tables", flush=True)
    return 1 if got.failed or got.done < len(todo) else 0


def cmd_report(args) -> int:
    import reports

    bad = [f for f in args.format if f not in ("md", "tex", "csv")]
    if bad:
        raise UsageError(f"unknown format(s) {', '.join(bad)}; choose from md, tex, csv")
    try:
        path = reports.build_report(args.out, formats=tuple(args.format), suites=suites.report_declarations())
    except reports.ReportError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {path}")
    return 0


def cmd_data(args) -> int:
    info = datasets.describe(args.dataset, args.corruption, args.seed, root=args.data_root,
                             download=args.download, reward_per_class=args.reward_per_class)
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>18}: {v}")
    return 0


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        commands = {"run": cmd_run, "tune": cmd_tune, "report": cmd_report, "list": cmd_list, "data": cmd_data,
                    "gpu-check": gpucheck.main}
        return commands[args.command](args)
    except (UsageError, datasets.DatasetError, datasets.SpecError, store.StoreError) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; rerun with --resume to complete the sweep", file=sys.stderr)
        return 130
