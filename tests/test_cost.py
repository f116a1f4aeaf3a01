"""bench.costs.cost: measure() returns sane fields; each method's step stays inside a band of
plain softmax's on the same network and batch (all measured in one process, interleaved).

The bands are on per-step process CPU time with ONE torch thread: on a shared 2-core box,
wall time (and the CPU time of 2 threads, which spin at every barrier while the other one is
preempted) swings 2-3x with the neighbours' load, while single-thread CPU time stays within
a few percent. Measured on the small network, B = 100 (10 x 2 interleaved steps, 4 runs):
cb 0.98 - 1.00, fsr 1.6 - 1.7, fsr_df 3.4 - 4.7, l2r 3.4 - 4.5, mwn 3.9 - 4.5. Each upper
band leaves room for noise but not for a step that doubles; the lower bands catch a
re-weighting step that silently stopped doing its meta work (e.g. stuck in its warm-up).
"""
from __future__ import annotations

import math
import sys

import pytest
import torch

from bench.costs.compare import compare, format_table
from bench.costs.cost import measure
from bench.costs.stepper import make_runner
from methods import METHODS

# method: (lowest, highest) ratio of its step's CPU time to softmax's; small_cnn, B = 100.
BANDS = {
    "softmax": (1.0, 1.0),
    "cb": (0.7, 1.5),
    "gce": (0.7, 1.5),
    "elr": (0.7, 1.8),
    "fsr": (1.1, 2.5),
    "fsr_df": (1.5, 6.5),
    "l2r": (1.5, 6.0),
    "mwn": (1.5, 6.5),
}
DEFAULT_BAND = (0.5, 10.0)   # a newly registered method until it gets its own band


def test_measure_fields():
    r = measure(dict(method="softmax", steps=3, untimed_steps=1, device="cpu"))
    assert r["device"] == "cpu" and r["method"] == "softmax" and r["model"] == "small_cnn"
    assert r["steps"] == 3 and r["batch_size"] == 100 and r["num_params"] > 0
    assert 0 < r["step_time_s"] < 5 and r["step_time_iqr_s"] >= 0
    assert 0 < r["cpu_time_s"] < 10
    assert math.isfinite(r["peak_mem_mb"]) and r["peak_mem_mb"] >= 0 and r["mem_baseline_mb"] > 0
    assert r["mem_mode"] in ("rss_hwm_reset", "rss_maxrss_growth")


def test_measure_rejects_unknown_keys_and_methods():
    with pytest.raises(ValueError, match="unknown config key"):
        measure(dict(modle="small_cnn"))
    with pytest.raises(KeyError):
        measure(dict(method="nope", steps=1, untimed_steps=0))


def test_dataset_key_and_lenient_config():
    r = make_runner(dict(dataset="cifar100", model="small_cnn", batch_size=8, epochs=3, suite="x"), strict=False)
    assert tuple(r.batches[0].x.shape) == (8, 3, 32, 32) and r.method.ctx.num_classes == 100
    loss = r.step()["loss"]
    assert torch.is_tensor(loss) and loss.dim() == 0 and math.isfinite(float(loss))


def test_reweighting_methods_are_timed_in_their_active_phase():
    for name in ("fsr", "fsr_df", "l2r", "mwn"):
        if name not in METHODS:
            continue
        out = make_runner(dict(method=name, device="cpu")).step()
        assert "weights" in out, f"{name}: the timed step is not a re-weighting step"


def test_compare_reports_unbuildable_methods():
    res = compare(["softmax", "l2r"], steps=1, untimed_steps=0, repeats=1, reward_per_class=0, device="cpu")
    assert set(res["methods"]) == {"softmax"} and "l2r" in res["skipped"]
    assert "skipped" in format_table(res)


@pytest.fixture(scope="module")
def ratios():
    before = torch.get_num_threads()
    try:
        return compare(list(METHODS), model="small_cnn", batch_size=100, steps=2, untimed_steps=3, repeats=10,
                       device="cpu", threads=1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(METHODS))
def test_step_cost_ratio_band(ratios, name):
    if name in ratios["skipped"]:
        pytest.skip(f"{name} cannot be built: {ratios['skipped'][name]}")
    m = ratios["methods"][name]
    lo, hi = BANDS.get(name, DEFAULT_BAND)
    assert lo <= m["cpu_ratio"] <= hi, (
        f"{name}: step CPU time {m['cpu_ratio']:.2f} x softmax's, outside [{lo}, {hi}]\n{format_table(ratios)}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_allocator_tuning_takes_effect_on_glibc():
    import platform

    from bench.trial import allocator
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert allocator.tune() is True
    assert allocator.tune() is True          # once per process, cached


def test_extra_forward_variant_and_floor_column():
    """extra_forward=q runs one no-grad eval-mode forward of q samples before each step
    (FSR's floor); variants are timed beside the methods; format_table adds ratios to a row."""
    runner = make_runner(dict(method="softmax", extra_forward=7))
    seen = []
    runner.method.model.register_forward_pre_hook(
        lambda mod, inp: seen.append((len(inp[0]), mod.training, torch.is_grad_enabled())))
    runner.step()
    assert seen == [(7, False, False), (100, True, True)]
    assert runner.method.model.training
    res = compare(["fsr"], steps=1, untimed_steps=1, repeats=2,
                  variants={"floor": {"method": "softmax", "extra_forward": 200}})
    assert set(res["methods"]) == {"softmax", "fsr", "floor"}
    table = format_table(res, "floor")
    assert "x floor" in table.splitlines()[1]
    floor_row = next(line for line in table.splitlines() if line.startswith("floor "))
    assert floor_row.split()[4] == "1.00"    # the floor relative to itself
