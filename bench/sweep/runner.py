"""Runs a list of trial configs as Ray Tune trials and appends each finished one to the store.

Each trial is one Tune trial of a grid search; it reports once per epoch (``tune.report``)
and a last time with its final metrics and status. A driver-side callback appends that row
to DIR/results.csv the moment the trial ends and prints one progress line, so a killed sweep
keeps what finished and ``--resume`` reruns only the rest.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import ray
from ray import tune

import bench

from . import store
from .cluster import ray_session
from .rows import NOT_KEPT, expected_cost, fmt_secs as _fmt_secs, longest_first, make_row, run_one  # noqa: F401

PROJECT_ROOT = str(Path(bench.__file__).resolve().parent.parent)


def trainable(config: dict) -> None:
    """Tune function trainable: one harness run; never raises (errors become a failed row)."""
    cfg = config["trial"]
    result = run_one(cfg, int(config.get("threads", 1)), report=tune.report,
                     trial_dir=lambda: tune.get_context().get_trial_dir())
    tune.report({**result, "final": True})


class StoreCallback(tune.Callback):
    """Tune callback (driver side): one row per finished trial, one progress line each; a trial
    that runs longer than ``epoch_line_s`` also gets an epoch line at most that often. The
    sweep's ETA counts the epochs running trials have done, each trial weighted by its expected
    cost (``weights``: trial id -> cost; all alike without), so that starting the longest trials
    first does not inflate it."""

    def __init__(self, out_dir, total: int, epoch_line_s: float = 60.0, weights: dict | None = None):
        self.out_dir, self.total = out_dir, total
        self.weights = weights or {}
        self.total_weight = sum(self.weights.values()) if weights else float(total)
        self.done_weight = 0.0
        self.done = self.failed = 0
        self.pending = 0          # rows kept in the side file (results.csv refused them)
        self.unwritable = ""      # why no row can be recorded: the sweep stops
        self.t0 = time.time()
        self.started: dict[str, float] = {}
        self.epoch_line_s = epoch_line_s
        self.scheduler_stops = False   # a scheduler may end trials early: such a trial is "stopped", not failed
        self.progress: dict[str, float] = {}     # running trial -> fraction of its epochs done
        self.epochs_run: dict[str, int] = {}     # running trial -> epochs it has reported
        self.last_line: dict[str, float] = {}

    def _weight(self, trial) -> float:
        return self.weights.get(trial.config["trial"].get("trial_id"), 1.0) if self.weights else 1.0

    def _eta(self) -> float:
        done = self.done_weight + sum(self.progress.values())
        return (time.time() - self.t0) / done * (self.total_weight - done) if done else float("nan")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        cfg = trial.config["trial"]
        if "epoch" in result and not result.get("final"):
            self.epochs_run[trial.trial_id] = result["epoch"]
        epochs = cfg.get("epochs") or result.get("epochs")   # a run by steps: the epoch line says how many
        if result.get("final") or "epoch" not in result or not epochs:
            return
        self.progress[trial.trial_id] = result["epoch"] / epochs * self._weight(trial)
        now, begun = time.time(), self.started.get(trial.trial_id, self.t0)
        if now - max(begun, self.last_line.get(trial.trial_id, begun)) < self.epoch_line_s:
            return
        self.last_line[trial.trial_id] = now
        trial_eta = (now - begun) / result["epoch"] * (epochs - result["epoch"])
        print(f"    {cfg['variant']} {cfg['corruption']} seed {cfg['seed']}: epoch {result['epoch']}/{epochs}, "
              f"acc {100 * result.get('test_acc', float('nan')):5.1f}%, {_fmt_secs(now - begun)} in, "
              f"ETA {_fmt_secs(trial_eta)} (sweep ETA {_fmt_secs(self._eta())})", file=sys.stdout, flush=True)

    def _record(self, trial, result: dict) -> None:
        if self.unwritable:       # the sweep is stopping: the trials it stops are not results
            return
        cfg = trial.config["trial"]
        result.setdefault("wall_s", time.time() - self.started.get(trial.trial_id, self.t0))
        result["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S",
                                             time.localtime(self.started.get(trial.trial_id, self.t0)))
        result["trial_dir"] = _trial_dir(trial)   # kept in extra: where the report finds its curves
        row = make_row(cfg, result)
        try:
            aside = store.append_row(self.out_dir, row)
        except store.StoreError as e:
            self.unwritable = f"{e}: the row of {cfg['trial_id']} is lost"
            return
        if aside and not self.pending:
            print(f"bench: {aside}", file=sys.stderr, flush=True)
        self.pending += bool(aside)
        self.done += 1
        self.done_weight += self._weight(trial)
        self.failed += row["status"] not in ("ok", "stopped")
        self.progress.pop(trial.trial_id, None)
        elapsed = time.time() - self.t0
        eta = self._eta()
        acc = row.get("test_acc")
        step = row.get("step_time_s")
        what = (f"acc {100 * acc:5.1f}%" if isinstance(acc, float) and math.isfinite(acc)
                else f"step {1000 * step:.1f} ms" if isinstance(step, float) else "")
        if row["status"] == "stopped":
            what = f"stopped early at epoch {result.get('epochs_run')}"
        elif row["status"] != "ok":
            what = f"FAILED {str(result.get('error', ''))[:120]}"
        print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {cfg['variant']:<12} {cfg['corruption']:<16} "
              f"seed {cfg['seed']}  {what}  ({row.get('wall_s', 0):.0f}s)  "
              f"elapsed {_fmt_secs(elapsed)}, ETA {_fmt_secs(eta)}", file=sys.stdout, flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started[trial.trial_id] = time.time()

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = dict(trial.last_result or {})
        if not result.get("final") and self.scheduler_stops and "epoch" in result:   # stopped early (ASHA)
            result = {**result, "status": "stopped", "epochs_run": result["epoch"]}
        elif not result.get("final"):
            result = {"status": "failed", "error": "trial ended without a final report"}
        self._record(trial, result)

    def on_trial_error(self, iteration, trials, trial, **info):
        error = "worker died"
        if trial.error_file and os.path.exists(trial.error_file):
            lines = [ln for ln in Path(trial.error_file).read_text().strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else error
        self._record(trial, {"status": "failed", "error": error, "epochs_run": self.epochs_run.get(trial.trial_id, 0)})


class StopWhenUnwritable(tune.Stopper):
    """Ends the whole sweep at once when the store takes no row: later trials would be lost too."""

    def __init__(self, callback: StoreCallback):
        self.callback = callback

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(self.callback.unwritable)


def ray_init_kwargs(address=None, num_cpus=None, gpus_per_trial=0.0, verbose=False) -> dict:
    """How the driver starts (or joins) Ray. Workers get this project's root first on their
    PYTHONPATH, so they import its ``datasets``/``methods``/``bench``, never a same-named package
    installed elsewhere (Hugging Face's ``datasets``); the driver's working directory last, so
    that a user's ``--methods my_module:MyMethod`` imports there as it does in the driver."""
    env_path = os.environ.get("PYTHONPATH", "")
    paths = (PROJECT_ROOT, env_path, os.getcwd())   # the working directory last: a user's own method module
    kwargs = dict(include_dashboard=False, log_to_driver=verbose,
                  logging_level=logging.INFO if verbose else logging.ERROR,
                  runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}})
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus or os.cpu_count()
        if not gpus_per_trial:
            kwargs["num_gpus"] = 0
    return kwargs


class ResourceError(ValueError):
    """Per-trial resources the cluster cannot give (found after Ray starts, before any trial;
    the command line refuses them before anything is written: bench.sweep.cluster)."""


def experiment_name(suite: str, profile: str) -> str:
    """The sweep's Tune experiment (its folder under the storage path): unique, so that two
    sweeps started in the same second on one --storage never share one."""
    return f"{suite}-{profile}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _trial_dir(trial) -> str | None:
    """The trial's directory on the storage path, its result.json (one line per epoch) copied
    there now from Tune's staging copy on the driver, which Tune syncs only now and then: a
    sweep interrupted or killed later keeps the curves of every trial that has a row."""
    try:
        staged, trial_dir = Path(trial.local_path, "result.json"), Path(trial.path)
    except (AttributeError, RuntimeError, TypeError):   # no directory (yet)
        return None
    try:
        if staged.is_file() and trial_dir.is_dir() and staged.resolve() != (trial_dir / "result.json").resolve():
            shutil.copyfile(staged, trial_dir / "result.json")
    except OSError:
        pass   # Tune's own sync stays
    return str(trial_dir)


def _dirname(trial) -> str:
    cfg = trial.config["trial"]
    return f"{cfg['trial_id']}-{cfg['variant']}-{cfg['corruption']}-s{cfg['seed']}".replace(":", "_")


def run_trials(trials: list[dict], out_dir, *, name: str, address: str | None = None,
               cpus_per_trial: float = 1, gpus_per_trial: float = 0, storage: str | None = None,
               verbose: bool = False, num_cpus: int | None = None, max_concurrent: int = 0,
               reuse_workers: bool = True, scheduler=None) -> StoreCallback:
    """Run ``trials`` through Ray Tune, longest first; returns the callback (its ``done``/``failed``
    counts); raises StoreError when the sweep stopped because no file took a finished row.
    ``max_concurrent``: at most this many trials at once (0: as many as the resources allow).
    ``reuse_workers``: a worker process runs trial after trial (no process start and
    imports per trial); False gives each trial a fresh process (the cost suite's memory figures).
    ``scheduler``: a Tune trial scheduler that may stop trials early (bench.sweep.tune's ASHA);
    a trial it stops gets a row with status "stopped" and the epochs it ran (``epochs_run``)."""
    trials = longest_first(trials)
    if not verbose:  # Tune's own tables and banners stay behind --verbose
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    out_dir = Path(out_dir).resolve()
    callback = StoreCallback(out_dir, len(trials), weights={t["trial_id"]: expected_cost(t) for t in trials})
    callback.scheduler_stops = scheduler is not None
    if not trials:
        return callback
    # Ctrl-C ends the sweep at once, as KeyboardInterrupt (Tune's own handler would stop it
    # "gracefully" and return as if it had finished); the rows written so far stay
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    with ray_session(ray_init_kwargs(address, num_cpus, gpus_per_trial, verbose)):
        have = ray.cluster_resources()
        for what, want in (("CPU", cpus_per_trial), ("GPU", gpus_per_trial)):
            if want > have.get(what, 0.0):
                raise ResourceError(f"each trial asks for {want:g} {what}(s) but the Ray cluster has "
                                    f"{have.get(what, 0.0):g}; no trial could ever start")
        resources = {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            param_space={"trial": tune.grid_search(trials), "threads": max(1, int(cpus_per_trial))},
            tune_config=tune.TuneConfig(reuse_actors=reuse_workers, trial_dirname_creator=_dirname,
                                        max_concurrent_trials=max_concurrent or None, scheduler=scheduler),
            run_config=tune.RunConfig(
                name=name, storage_path=storage or str(out_dir / "ray"), callbacks=[callback],
                stop=StopWhenUnwritable(callback),
                verbose=2 if verbose else 0, failure_config=tune.FailureConfig(max_failures=0),
                log_to_file=True),
        )
        tuner.fit()
    if callback.unwritable:
        raise store.StoreError(f"{callback.unwritable}; the sweep stopped after {callback.done} row(s)")
    return callback
