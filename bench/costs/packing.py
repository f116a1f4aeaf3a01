"""Packed trials: how many steps per second one device gives to N trials stepping at once.

Each of N worker processes builds one method on fixed synthetic inputs (bench.costs.stepper, the
cost instruments' runner), takes its untimed steps (a captured step compiles there), says it is
ready, and waits; when all are ready they are told to go together, each steps for ``seconds``
and reports its count. The aggregate is the sum of the workers' steps per second: separate
processes share a GPU by time slices (or, under CUDA MPS, at once), so the aggregate grows with N
only while a single trial leaves the GPU idle, waiting on kernel launches.

``python -m bench.costs.packing --worker`` is the worker (config as JSON on the command line,
"go" on its standard input); ``measure`` and ``table`` are what ``bench gpu-check`` prints.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch


def worker(config: dict, seconds: float, untimed_steps: int) -> dict:
    """One packed trial (in its own process): ready, wait for "go", step for ``seconds``."""
    from . import stepper

    runner = stepper.make_runner(config, strict=False)
    for _ in range(untimed_steps):
        runner.step()
    runner.sync()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(2)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        runner.step()
        steps += 1
        if steps % 10 == 0:
            runner.sync()
    runner.sync()
    elapsed = time.perf_counter() - t0
    rec = runner.captured.record() if runner.captured is not None else None
    return dict(steps=steps, seconds=elapsed, ran=rec["ran"] if rec else "eager")


def measure(config: dict, n: int, seconds: float = 10.0, untimed_steps: int = 5, env: dict | None = None,
            timeout: float = 600.0) -> dict:
    """``n`` workers of ``config`` stepping together: their steps per second, each and summed."""
    cmd = [sys.executable, "-m", "bench.costs.packing", "--worker", json.dumps(config),
           "--seconds", str(seconds), "--untimed-steps", str(untimed_steps)]
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **(env or {})}) for _ in range(n)]
    try:
        for p in procs:   # every worker built and warm before any starts timing
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a packed worker failed before its timed steps: {p.stderr.read().strip()[-500:]}")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"a packed worker exited {p.returncode}: {err.strip()[-500:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    rates = [o["steps"] / o["seconds"] for o in outs]
    return dict(n=n, rates=rates, total=sum(rates), ran=sorted({o["ran"] for o in outs}))


def table(config: dict, counts=(1, 2, 4, 8), modes=("off", "on"), seconds: float = 10.0, untimed_steps: int = 5,
          env: dict | None = None, label: str = "") -> str:
    """The aggregate steps per second of 1, 2, 4, 8 packed trials per capture mode."""
    lines = [f"{'trials':>6} {'compile':<8} {'steps/s (all)':>13} {'x one alone':>11} {'steps/s each':>14}  ran"
             + (f"   [{label}]" if label else "")]
    for mode in modes:
        alone = None
        for n in counts:
            try:
                got = measure({**config, "compile": mode}, n, seconds, untimed_steps, env)
            except Exception as e:  # noqa: BLE001 (reported in the table)
                lines.append(f"{n:>6} {mode:<8} failed: {type(e).__name__}: {str(e)[:200]}")
                continue
            alone = alone or got["total"]
            each = f"{min(got['rates']):.1f}-{max(got['rates']):.1f}" if n > 1 else f"{got['rates'][0]:.1f}"
            lines.append(f"{n:>6} {mode:<8} {got['total']:>13.1f} {got['total'] / alone:>11.2f} {each:>14}  "
                         f"{','.join(got['ran'])}")
    return "\n".join(lines)


def with_mps(fn) -> str:
    """``fn(env)`` with a CUDA MPS control daemon of its own running (its pipe and log folders in a
    temporary folder, ``env`` naming them for the workers), stopped after; a line saying why not
    where the machine has no MPS or the daemon does not start."""
    import shutil
    import tempfile

    exe = shutil.which("nvidia-cuda-mps-control")
    if exe is None:
        return "CUDA MPS: nvidia-cuda-mps-control is not on this machine; not measured"
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CUDA_MPS_PIPE_DIRECTORY": os.path.join(tmp, "pipe"), "CUDA_MPS_LOG_DIRECTORY": os.path.join(tmp, "log")}
        for d in env.values():
            os.makedirs(d)
        full = {**os.environ, **env}
        started = subprocess.run([exe, "-d"], env=full, capture_output=True, text=True, timeout=60)
        if started.returncode != 0:
            return f"CUDA MPS: the control daemon did not start ({(started.stderr or started.stdout).strip()[:200]})"
        try:
            return fn(env)
        finally:
            subprocess.run([exe], input="quit\n", env=full, capture_output=True, text=True, timeout=60)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="a packed trial's worker (bench gpu-check part p)")
    p.add_argument("--worker", required=True, help="the step runner's config, JSON")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--untimed-steps", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(1)   # packed CPU workers: one thread each, not N x all cores
    print(json.dumps(worker(json.loads(a.worker), a.seconds, a.untimed_steps)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
