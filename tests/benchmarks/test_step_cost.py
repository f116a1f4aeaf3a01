"""One pytest-benchmark benchmark per registered method's training step on fixed inputs.

``pytest tests/benchmarks --benchmark-only`` times them (small network by default;
REWEIGHT_BENCH_NET=resnet32 for ResNet-32 at B = 100); see conftest.py for the knobs.
"""
from __future__ import annotations

import os

import pytest

from bench.costs.stepper import make_runner
from methods import METHODS

NAMES = ["softmax"] + [n for n in METHODS if n != "softmax"]   # the baseline first


@pytest.mark.benchmark(group=f"step-{os.environ.get('REWEIGHT_BENCH_NET', 'small_cnn')}")
@pytest.mark.parametrize("name", NAMES)
def test_step(benchmark, cost_setup, cost_table, name):
    net, config, plan, state = cost_setup["net"], cost_setup["config"], cost_setup["plan"], cost_setup["state"]
    if not cost_setup["timed"]:
        benchmark.disabled = True   # --benchmark-disable semantics: the step runs once, untimed
    try:
        runner = make_runner(dict(config, method=name))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"{name} cannot be built on {net}: {type(e).__name__}: {e}")

    def step():
        out = runner.step()
        runner.sync()
        return out

    out = benchmark.pedantic(step, rounds=plan["rounds"], warmup_rounds=plan["warmup_rounds"], iterations=1)
    assert isinstance(out, dict)
    if not cost_setup["timed"]:
        return
    benchmark.extra_info.update(net=net, batch_size=config["batch_size"])
    if name in cost_table["methods"]:
        m = cost_table["methods"][name]
        benchmark.extra_info.update(ratio_to_softmax=round(m["ratio"], 3),
                                    cpu_ratio_to_softmax=round(m["cpu_ratio"], 3),
                                    interleaved_median_s=m["step_time_s"])
    else:
        benchmark.extra_info["compare_skipped"] = cost_table["skipped"].get(name, "not compared")
    if benchmark.stats is not None:
        median = benchmark.stats.stats.median
        state["bench_median"][name] = median
        if "softmax" in state["bench_median"]:
            benchmark.extra_info["bench_ratio_to_softmax"] = round(median / state["bench_median"]["softmax"], 3)
