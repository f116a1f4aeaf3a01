"""What the Ray runner (bench.sweep.runner) and the Ray-free one (bench.sweep.local) share: one
trial run in a process (``run_one``), its row of the results store (``make_row``), the order
trials start in (``longest_first``)."""
from __future__ import annotations

import math
import traceback

from . import store
from .provenance import machine, provenance
from .suites import config_id, resolved


def run_one(cfg: dict, threads: int = 1, report=None, trial_dir=None) -> dict:
    """One trial (a training run, or a cost measurement) in this process; never raises: an
    error or a NaN becomes a failed result with its reason. ``trial_dir``: a callable giving the
    trial's directory (Ray Tune's), or None."""
    import datasets  # must be this project's package, not Hugging Face's
    import torch

    result = {"status": "failed"}
    try:
        if not getattr(datasets, "IS_REWEIGHT_BENCH", False):
            raise ImportError(f"a worker imported a foreign 'datasets' package from {datasets.__file__}")
        torch.set_num_threads(max(1, threads))
        if cfg.get("task", "train") == "cost":
            from ..costs.cost import measure

            metrics = measure(cfg, strict=False)
        else:
            from ..trial.harness import train

            metrics = train(cfg, report=report, trial_dir=trial_dir() if trial_dir else None)
        result = {**metrics, "status": "ok", "threads": torch.get_num_threads()}
    except Exception as exc:  # a crashed or NaN trial is a result, not the end of the sweep
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=20)
    result["machine"] = machine()   # where it ran: CPU and its vector extensions, GPU, threads
    return result


def fmt_secs(s: float) -> str:
    """Seconds as 3m05s or 1h02m (? when not finite)."""
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def make_row(cfg: dict, result: dict) -> dict:
    from datasets import parse

    spec = parse(cfg["corruption"])
    row = {k: cfg.get(k) for k in ("trial_id", "suite", "profile", "dataset", "model", "method",
                                    "variant", "seed", "epochs")}
    if row["epochs"] is None:   # a run by steps (harness): the epochs it took, the last one cut short
        row["epochs"] = result.get("epochs")
    ident = resolved(cfg)   # what the trial is: its hyper-parameters and settings, defaults included
    row.update(corruption=str(spec), noise_type=spec.noise_type, noise_ratio=spec.noise_ratio,
               imbalance_ratio=spec.imbalance_ratio, hparams=ident["hparams"],
               config_id=config_id(cfg), **provenance())
    for k in store.columns():
        if k in result and k not in row:
            row[k] = result[k]
    # every other scalar the trial returned is kept, in one JSON column (Tune's bookkeeping aside)
    extra = {k: v for k, v in result.items() if k not in row and k not in NOT_KEPT
             and isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and v != v)}
    for key in ("set", "data_identity", "tuning"):   # the run's --set choices, the data it read, its tuning (bench.sweep.tune)
        if cfg.get(key):
            extra[key] = cfg[key]
    # the resolved settings without a column of their own; what the trial computed as it ran
    # (bench.trial.harness: the steps, the method's effective values) and the machine it ran on
    extra["settings"] = {k: v for k, v in ident.items() if k not in store.columns() and k not in ("set", "data_identity", "tuning")}
    if cfg.get("tuning"):   # its search's cost, where the report reads it (reports.metrics)
        extra["tune_cost_epochs"] = cfg["tuning"]["cost_epochs"]
    for key in ("effective", "machine"):
        if isinstance(result.get(key), dict):
            extra[key] = result[key]
    if extra:
        row["extra"] = extra
    row["status"] = result.get("status", "failed")
    return row


#: what Ray Tune adds to every report and the runner's own markers: not results of the trial
NOT_KEPT = {"final", "traceback", "timestamp", "done", "training_iteration", "trial_id", "date",
            "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip", "time_since_restore",
            "iterations_since_restore", "checkpoint_dir_name", "config", "experiment_tag", "should_checkpoint"}


def expected_cost(trial: dict) -> float:
    """A trial's rough cost: its method's relative step cost times its epochs."""
    from methods import get_method_class

    try:
        cost = get_method_class(trial.get("method")).relative_cost
    except (KeyError, ValueError):
        cost = 1.0
    return cost * float(trial.get("epochs") or 1)


def longest_first(trials: list[dict]) -> list[dict]:
    """The trials in the order they start: the longest expected first (stable otherwise), so
    that the last ones to run are short and no worker idles long at the end of the grid.
    Results do not depend on the order."""
    return sorted(trials, key=lambda t: -expected_cost(t))
