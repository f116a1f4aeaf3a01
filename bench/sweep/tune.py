"""``bench tune``: every method's hyper-parameters searched with one budget, chosen by a
declared rule, then run with all of the profile's seeds as ordinary trials.

For each (method, corruption, data set) of a suite: ``configurations`` gives the budget's N
configurations: the first is the suite's own setting of the method (its defaults: no choice,
DomainBed's convention, so a search can always fall back on them), the other N - 1 are drawn
from the method's ``search_space`` and the shared SHARED_SPACE with a seeded generator (the same
again on a rerun, and the first N of a larger budget), as ``--set`` choices, so each is its own
trial with its own id. The search trials (seed 0, a noisy
validation split of VAL_FRACTION) run through Ray Tune with ASHA, which stops the weak ones
early; their rows go to their own store, DIR/tune/RULE/results.csv (a stopped one: status
"stopped"), so a rerun with --resume draws the same configurations and runs only the untried
ones. ``select`` picks one per rule; the picked configuration then runs with every seed, as
the variant ``METHOD@RULE``, into DIR/results.csv; its rows carry ``extra.tuning``: the rule,
the budget and the search's cost in trial-epochs (epochs the search trials ran, stopped ones
to where they stopped).
"""
from __future__ import annotations

import dataclasses
import json
import math
import zlib
from pathlib import Path

import numpy as np

from methods.spaces import check_space, sample

from . import store
from .checks import UsageError
from .profiles import SHARED_SPACE
from .suites import Suite, expand, trial_id, with_data_identity

#: selection rule -> the metric it selects by; "oracle" reads clean test labels (reference only)
RULES = {"noisy-val": "val_acc", "oracle": "test_acc"}
VAL_FRACTION = 0.1


def space_of(method: str, cls) -> dict:
    """The --set keys a tuning run of ``method`` draws, with their ranges (shared ones first)."""
    try:
        check_space(cls, method)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return {**SHARED_SPACE, **{f"{method}.{k}": r for k, r in cls.search_space.items()}}


def configurations(method: str, cls, budget: int) -> list[dict]:
    """``budget`` configurations (--set choices): the defaults (no choice), then draws from a
    generator seeded by the method's name."""
    rng = np.random.default_rng(zlib.crc32(method.encode()))
    space = space_of(method, cls)
    return [{}] + [sample(space, rng) for _ in range(budget - 1)] if budget > 0 else []


def own_entry(suite: Suite, method: str):
    """The suite's entry of ``method`` that tuning starts from: its own row, else its first."""
    entries = [e for e in suite.entries if e.method == method]
    return next((e for e in entries if e.label == method), entries[0])


def _narrowed(suite: Suite, method: str, corruption: str) -> Suite:
    return dataclasses.replace(suite, entries=[own_entry(suite, method)], corruptions=[corruption])


def search_trials(suite: Suite, profile: str, method: str, cls, corruption: str, budget: int,
                  fixed: dict | None = None, **kw) -> list[dict]:
    """The search trials of one (method, corruption): seed 0, each data set of the suite;
    ``fixed``: the run's own --set choices, the same in every configuration (none of them searched)."""
    one = _narrowed(suite, method, corruption)
    searched = set(space_of(method, cls)) & set(fixed or {})
    if searched:
        raise UsageError(f"--set {sorted(searched)[0]}: a searched hyper-parameter of {method} cannot be fixed "
                         "in a tune run (leave it to the search, or leave the method out)")
    return [t for sets in configurations(method, cls, budget)
            for t in expand(one, profile, seeds=1, sets={**(fixed or {}), **sets, "val_fraction": VAL_FRACTION}, **kw)]


def outcome(row: dict) -> dict:
    """A search row of the store (strings) as the numbers ``select`` reads."""
    extra = json.loads(row.get("extra") or "{}")
    num = lambda v: float(v) if v not in (None, "") else math.nan
    ran = num(row.get("epochs")) if row.get("status") == "ok" else num(extra.get("epochs_run"))
    return dict(trial_id=row["trial_id"], status=row.get("status"), set=extra.get("set", {}),
                epochs_run=0 if math.isnan(ran) else int(ran), val_acc=num(extra.get("val_acc")),
                test_acc=num(row.get("test_acc")))


def select(outcomes: list[dict], rule: str) -> dict | None:
    """The configuration ``rule`` picks: among the finished or stopped trials with its metric,
    those that ran the most epochs (ASHA's survivors), and of them the best metric; the
    earlier drawn on a tie. None when no trial gave the metric (all failed)."""
    metric = RULES[rule]
    scored = [(o["epochs_run"], o[metric], -i, o) for i, o in enumerate(outcomes)
              if o["status"] in ("ok", "stopped") and math.isfinite(o[metric])]
    return max(scored, key=lambda s: s[:3])[3] if scored else None


def cost(outcomes: list[dict]) -> int:
    """The search's cost in trial-epochs: every epoch a search trial ran."""
    return sum(o["epochs_run"] for o in outcomes)


def latest(rows: list[dict]) -> dict:
    """The last row of each trial id (a failed one retried keeps its newest)."""
    return {r["trial_id"]: r for r in rows}


def selected_trials(suite: Suite, profile: str, method: str, corruption: str, dataset: str, chosen: dict,
                    rule: str, budget: int, spent: int, **kw) -> list[dict]:
    """The chosen configuration with every seed of the profile, as the variant METHOD@RULE,
    trained on the whole training set (no validation split); ``tuning`` recorded in each."""
    sets = {k: v for k, v in chosen.items() if k != "val_fraction"}
    out = []
    for t in expand(_narrowed(suite, method, corruption), profile, dataset=dataset, sets=sets, **kw):
        t.update(variant=f"{t['variant']}@{rule}", tuning=dict(rule=rule, budget=budget, cost_epochs=spent))
        t["trial_id"] = trial_id(t)
        out.append(t)
    return out


#: ASHA's first rung, as a fraction of the run: under label noise an early ranking misleads
#: (on MNIST-1D at 40% uniform noise, quick profile, ELR's defaults stood at 70% test accuracy at
#: epoch 3 of 31, below the median of 16 configurations, and ended at 95%; a near-softmax
#: configuration stood at 76% and ended at 89%: a first rung at epoch 3 (1/8) kept the second)
FIRST_RUNG = 1 / 3


def asha(rule: str, epochs: int):
    """ASHA on the rule's metric per epoch (rungs at FIRST_RUNG of the run, then x3); a trial
    that reaches the last epoch finishes it."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="epoch", metric=RULES[rule], mode="max", max_t=epochs,
                         grace_period=max(1, round(epochs * FIRST_RUNG)), reduction_factor=3, stop_last_trials=False)


def search_dir(out, rule: str) -> Path:
    return Path(out) / "tune" / rule


def run(args, groups: list[dict]) -> int:
    """Search each group (``method``, ``corruption``, ``dataset``, its search ``trials``), then run
    every pick with all seeds; what a store already holds is not run again (--resume)."""
    import contextlib
    import os

    from .cluster import ray_session
    from .runner import experiment_name, ray_init_kwargs
    from .runner import run_trials as run_all

    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"   # a failed trial's last report has no metric
    where = search_dir(args.out, args.rule)
    tried = set(latest(store.read_rows(where)))
    if not args.resume and tried & {t["trial_id"] for g in groups for t in g["trials"]}:
        raise UsageError(f"{store.results_path(where)} already holds configurations of this search; pass --resume "
                         "to complete it, or choose another --out")
    picks = []
    with contextlib.ExitStack() as stack:   # Ray starts once, at the first trial to run (not on a finished run)
        ray_up = []

        def run_trials(todo, out, **kw):
            if todo and not ray_up:
                ray_up.append(stack.enter_context(ray_session(ray_init_kwargs(None, None, 0, args.verbose))) or True)
            return run_all(todo, out, **kw)

        for g in groups:
            todo = [t for t in g["trials"] if t["trial_id"] not in tried]
            print(f"tune {g['method']} on {g['corruption']} ({g['dataset']}, {args.rule}): {len(todo)} of "
                  f"{len(g['trials'])} configuration(s) to try -> {store.results_path(where)}", flush=True)
            if todo:
                run_trials(todo, where, name=experiment_name(f"tune-{g['method']}", args.profile),
                           cpus_per_trial=args.cpus_per_trial, verbose=args.verbose,
                           scheduler=asha(args.rule, int(todo[0]["epochs"])))
            rows = latest(store.read_rows(where))
            outcomes = [outcome(rows[t["trial_id"]]) for t in g["trials"] if t["trial_id"] in rows]
            pick = select(outcomes, args.rule)
            if pick is None:
                print(f"  no configuration of {g['method']} gave {RULES[args.rule]}: nothing selected", flush=True)
                continue
            chosen = {k: v for k, v in pick["set"].items() if k != "val_fraction"}
            chosen = json.dumps(chosen, sort_keys=True) if chosen else "the defaults"
            print(f"  picked {chosen} ({RULES[args.rule]} "
                  f"{100 * pick[RULES[args.rule]]:.1f}%, search cost {cost(outcomes)} trial-epochs)", flush=True)
            picks += selected_trials(args.suite_obj, args.profile, g["method"], g["corruption"], g["dataset"],
                                     pick["set"], args.rule, len(g["trials"]), cost(outcomes), **args.expand_kw)
        picks = with_data_identity(picks)
        done = store.finished_ids(args.out)
        todo = [t for t in picks if t["trial_id"] not in done]
        print(f"selected: {len(todo)} trial(s) to run, {len(picks) - len(todo)} already finished "
              f"-> {store.results_path(args.out)}", flush=True)
        cb = run_trials(todo, args.out, name=experiment_name(f"tune-{args.suite}", args.profile),
                        cpus_per_trial=args.cpus_per_trial, verbose=args.verbose)
    return 1 if cb.failed or cb.done < len(todo) else 0
