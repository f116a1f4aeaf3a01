"""pytest-benchmark cost benchmarks: one per registered method's training step.

Knobs (environment variables, so they also work from the root ``pytest`` run):
  REWEIGHT_BENCH_NET     small_cnn (default, cheap) | resnet32 (B = 100, CIFAR shape) | any bench.trial.models name
  REWEIGHT_BENCH_DEVICE  auto (default) | cpu | cuda
  REWEIGHT_BENCH_THREADS torch threads while timing (default 2: the two cores of the reference machine)
  REWEIGHT_BENCH_ENABLE  1: time the benchmarks even without a --benchmark-* option

The default test run (``pytest``) treats these benchmarks as if ``--benchmark-disable`` were
given: each step runs once, as a smoke test, and nothing is timed. They are timed when any
of --benchmark-only, --benchmark-enable, --benchmark-autosave, --benchmark-save,
--benchmark-compare or --benchmark-json is given (or REWEIGHT_BENCH_ENABLE=1); then the
methods are also compared interleaved round-robin in this process (bench.costs.compare.compare), the
ratio to softmax goes into each benchmark's extra_info, and a table is printed at the end.
"""
from __future__ import annotations

import os

import pytest

NET = os.environ.get("REWEIGHT_BENCH_NET", "small_cnn")
DEVICE = os.environ.get("REWEIGHT_BENCH_DEVICE", "auto")
# Per network: pytest-benchmark rounds / warm-up rounds, and the interleaved comparison's size.
PLANS = {
    "small_cnn": dict(rounds=20, warmup_rounds=3, compare=dict(steps=2, untimed_steps=3, repeats=10)),
    "resnet32": dict(rounds=5, warmup_rounds=1, compare=dict(steps=2, untimed_steps=1, repeats=3)),
}
PLAN = PLANS.get(NET, PLANS["resnet32"])
THREADS = int(os.environ.get("REWEIGHT_BENCH_THREADS", "2"))
CONFIG = dict(model=NET, batch_size=100, device=DEVICE)   # L2R/MWN reward batch 100, FSR q = 200: defaults

_ENABLING = ("benchmark_only", "benchmark_enable", "benchmark_autosave", "benchmark_save",
             "benchmark_compare", "benchmark_json")


def benchmarks_timed(config) -> bool:
    bs = getattr(config, "_benchmarksession", None)
    if bs is not None and bs.disabled:
        return False
    if os.environ.get("REWEIGHT_BENCH_ENABLE", "") not in ("", "0"):
        return True
    return any(config.getoption(o, default=None) for o in _ENABLING)


STATE = pytest.StashKey[dict]()


def _state(config) -> dict:
    return config.stash.setdefault(STATE, {"compare": None, "bench_median": {}})


@pytest.fixture(scope="session")
def cost_setup(request) -> dict:
    """What the benchmarks run: network, config for bench.costs.cost, plan, whether timed, state."""
    import torch
    timed = benchmarks_timed(request.config)
    before = torch.get_num_threads()
    if timed:
        torch.set_num_threads(THREADS)
    yield dict(net=NET, config=CONFIG, plan=PLAN, timed=timed, state=_state(request.config))
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cost_table(request, cost_setup):
    """bench.costs.compare.compare over the registry, interleaved in this process; None when untimed."""
    if not cost_setup["timed"]:
        return None
    from bench.costs.compare import compare
    from methods import METHODS
    res = compare(list(METHODS), **CONFIG, **PLAN["compare"])
    cost_setup["state"]["compare"] = res
    return res


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    st = config.stash.get(STATE, None)
    if not st or st["compare"] is None:
        return
    from bench.costs.compare import format_table
    tr = terminalreporter
    tr.section(f"step cost ratio to softmax ({NET}, B={CONFIG['batch_size']})")
    tr.write_line(format_table(st["compare"]))
    bm = st["bench_median"]
    if "softmax" in bm:
        tr.write_line("pytest-benchmark medians (one method after another): "
                      + ", ".join(f"{n} {m / bm['softmax']:.2f}x" for n, m in bm.items()))
