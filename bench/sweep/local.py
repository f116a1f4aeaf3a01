"""``bench run --local N``: a sweep without Ray, for a machine that lacks it (a lent GPU machine
has torch but not Ray, and Ray is too large to carry there).

Up to N trials run at once, each in its own process (``python -m bench.sweep.local``: one trial,
its result in a JSON file; an epoch line at most once a minute), so that N trials share one GPU
as Ray's fractional GPUs would let them; each finished trial's row goes to DIR/results.csv the moment it ends, through the same
``make_row`` as a Ray sweep's, so ``--resume`` and ``bench report`` treat both alike. A trial
that crashes (its process included) is a failed row with its reason; the rest go on.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import store
from .rows import fmt_secs, longest_first, make_row, run_one


@dataclass
class Outcome:
    """What the CLI reads of a finished sweep (as of the Ray runner's callback)."""

    done: int = 0
    failed: int = 0


def _result_of(proc: subprocess.Popen, out_path: Path, err_path: Path) -> dict:
    try:
        return json.loads(out_path.read_text())
    except (OSError, ValueError):
        err = err_path.read_text(errors="replace").strip().splitlines() if err_path.exists() else []
        return {"status": "failed", "error": f"the trial's process exited {proc.returncode}: "
                                             + (err[-1] if err else "no output")}


def run_trials(trials: list[dict], out_dir, parallel: int = 1, threads: int = 1) -> Outcome:
    """Run ``trials`` (longest first, as the Ray runner), ``parallel`` at once, each in a fresh
    process with ``threads`` torch threads; one row per finished trial, one progress line each."""
    todo, running, outcome, t0 = list(longest_first(trials)), [], Outcome(), time.time()
    out_dir = Path(out_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        while todo or running:
            while todo and len(running) < parallel:
                cfg = todo.pop(0)
                path, err = Path(tmp) / f"{cfg['trial_id']}.json", Path(tmp) / f"{cfg['trial_id']}.err"
                cmd = [sys.executable, "-m", "bench.sweep.local", "--trial", json.dumps(cfg), "--threads",
                       str(threads), "--result", str(path)]
                with open(err, "w") as err_file:   # a file, not a pipe: a chatty trial never blocks on it
                    running.append((subprocess.Popen(cmd, stderr=err_file), cfg, path, err, time.time()))
            time.sleep(0.2)
            for item in [r for r in running if r[0].poll() is not None]:
                running.remove(item)
                proc, cfg, path, err, begun = item
                result = _result_of(proc, path, err)
                row = make_row(cfg, result)
                diverted = store.append_row(out_dir, row)   # raises StoreError when no file takes it
                if diverted:
                    print(f"bench: {diverted}", file=sys.stderr, flush=True)
                outcome.done += 1
                outcome.failed += row["status"] != "ok"
                n, elapsed = outcome.done, time.time() - t0
                what = (f"acc {100 * result['test_acc']:5.1f}%" if row["status"] == "ok" and "test_acc" in result
                        else row["status"] if row["status"] == "ok" else f"FAILED: {result.get('error', '')[:120]}")
                print(f"[{n:>{len(str(len(trials)))}}/{len(trials)}] {row['variant'] or row['method']:<12} "
                      f"{row['corruption']:<16} seed {row['seed']}  {what}  ({time.time() - begun:.0f}s)  "
                      f"elapsed {fmt_secs(elapsed)}, ETA {fmt_secs(elapsed / n * (len(trials) - n))}", flush=True)
    return outcome


def _epoch_lines(cfg: dict, every_s: float = 60.0):
    """A trial's progress: an epoch line at most every ``every_s`` seconds (its first epoch's too)."""
    last = [-math.inf]

    def report(epoch: dict) -> None:
        if time.time() - last[0] >= every_s:
            last[0] = time.time()
            print(f"    {cfg.get('variant') or cfg['method']} {cfg['corruption']} seed {cfg['seed']}: epoch "
                  f"{epoch['epoch']}/{epoch['epochs']}, acc {100 * epoch['test_acc']:.1f}%, "
                  f"{epoch['epoch_s']:.1f} s/epoch", flush=True)
    return report


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="one trial without Ray (bench run --local)")
    p.add_argument("--trial", required=True, help="the trial's config, JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--result", required=True, help="where its result goes, JSON")
    a = p.parse_args(argv)
    cfg = json.loads(a.trial)
    result = run_one(cfg, a.threads, report=_epoch_lines(cfg))
    Path(a.result).write_text(json.dumps({k: v for k, v in result.items() if k != "traceback"}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
