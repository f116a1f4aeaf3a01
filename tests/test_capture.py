"""Captured steps (bench.trial.capture, ``compile``): a compiled step equals the eager one, a
method that cannot be captured runs eagerly and says why, and the row records which ran.

The CPU runs the same capture path as a GPU (torch.compile's tracing, AOT autograd, the
optimiser inside the compiled step); "aot_eager" stops before code generation, which keeps
these tests short; one test takes softmax through the inductor backend (C++ code on a CPU)."""
from __future__ import annotations

import shutil

import pytest
import torch

from bench.costs import stepper
from bench.trial import capture
from bench.trial.harness import DEFAULTS, Trial

# three steps of 100 (train_limit 350 less the reward set is set aside), re-weighting from step 0
THREE_STEPS = dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=350,
                   reward_per_class=5, device="cpu")
HPARAMS = {"fsr": {"reweight_start": 0, "dictionary_size": 60, "reward_batch": 20}}
BUILT_IN = ["softmax", "cb", "gce", "elr", "fsr", "l2r", "mwn"]


def three_steps(method: str, compile: str, hparams: dict | None = None):
    """A trial's first epoch (3 steps): its summed step outputs, its sample weights, its
    parameters after, and the capture's record (None: eager)."""
    trial = Trial({**DEFAULTS, **THREE_STEPS, "method": method, "compile": compile,
                   "hparams": HPARAMS.get(method, {}) if hparams is None else hparams})
    assert trial.steps_per_epoch == 3
    sums, _ = trial.run_epoch(0)
    weights = [w for w, _ in trial.wstats.pending]
    params = [p.detach().clone() for p in trial.model.parameters()]
    return sums, weights, params, (trial.captured.record() if trial.captured is not None else None)


def assert_same(a, b, what: str, tol: float = 1e-5):
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert torch.allclose(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32),
                              atol=tol, rtol=tol), what


@pytest.mark.parametrize("method", BUILT_IN)
def test_captured_step_equals_the_eager_one(method):
    eager_sums, eager_w, eager_p, none = three_steps(method, "off")
    sums, w, p, rec = three_steps(method, "aot_eager")
    assert none is None and rec["backend"] == "aot_eager" and rec["ran"] in ("compiled", "eager")
    if rec["ran"] == "eager":   # the compiler refused it: it says why, and ran eagerly from the same state
        assert rec["why"]
    else:
        assert rec["graphs"] >= 1 and "why" not in rec
    assert sorted(sums) == sorted(eager_sums)
    assert_same([sums[k] for k in sorted(sums)], [eager_sums[k] for k in sorted(sums)], f"{method}: step outputs")
    assert_same(w, eager_w, f"{method}: sample weights")
    assert_same(p, eager_p, f"{method}: parameters after 3 steps")


def test_the_built_in_methods_that_capture():
    """Which methods compile today (torch 2.14): all but MWN, whose meta-gradient is a double
    backward through the step's graph, which AOT autograd does not differentiate again."""
    ran = {m: three_steps(m, "aot_eager")[3] for m in ("softmax", "mwn")}
    assert ran["softmax"]["ran"] == "compiled"
    assert ran["mwn"]["ran"] == "eager" and "backward" in ran["mwn"]["why"]


def fails_after_first_graph(gm, example_inputs):
    """A compiler backend that runs the step's first graph (its forward: BatchNorm's running
    statistics move) and then fails: a capture that breaks half-way through a step."""
    fails_after_first_graph.graphs += 1
    if fails_after_first_graph.graphs > 1:
        raise RuntimeError("no capture for this one")
    return gm.forward


def test_a_method_that_cannot_be_captured_runs_eagerly_from_the_same_state():
    """The fallback undoes the half-done compiled step (model, buffers, optimiser, generators),
    so that the eager rerun starts where the step should: the trial equals an eager one."""
    def run(captured: bool):
        trial = Trial({**DEFAULTS, **THREE_STEPS, "method": "fsr", "hparams": HPARAMS["fsr"]})
        if captured:
            fails_after_first_graph.graphs = 0
            trial.method.train_step = capture.CapturedStep(trial.method, fails_after_first_graph, trial.device, trial.gen)
        sums, _ = trial.run_epoch(0)
        return sums, trial.model.state_dict(), trial.method.train_step
    eager_sums, eager_state, _ = run(False)
    sums, state, step = run(True)
    rec = step.record()
    assert fails_after_first_graph.graphs == 2 and rec["ran"] == "eager" and "no capture for this one" in rec["why"]
    assert rec["backend"] == "fails_after_first_graph"
    assert_same(list(state.values()), list(eager_state.values()), "parameters and buffers", tol=0)
    assert_same([sums[k] for k in sorted(sums)], [eager_sums[k] for k in sorted(sums)], "step outputs", tol=0)


def test_the_learning_rate_is_read_each_step_not_baked_in():
    """The schedule's rate changes every step; the captured step follows it (a tensor written in
    place), and the trial's row records what ran."""
    trial = Trial({**DEFAULTS, **THREE_STEPS, "method": "softmax", "compile": "aot_eager", "schedule": {"name": "cosine_restarts"}})
    sums, info = trial.run_epoch(0)
    trial.evaluate_epoch(0, sums, info, 0.0)
    lr = trial.method.opt.param_groups[0]["lr"]
    assert torch.is_tensor(lr) and float(lr) == pytest.approx(trial.lr_at(2 / 3))
    rec = trial.result()["effective"]["compile"]
    assert rec["ran"] == "compiled" and rec["backend"] == "aot_eager"


def test_settings():
    cpu = torch.device("cpu")
    assert capture.wanted("off", cpu) is None and capture.wanted("auto", cpu) is None
    assert capture.wanted("on", cpu) == "inductor" and capture.wanted("aot_eager", cpu) == "aot_eager"
    with pytest.raises(ValueError, match="compile must be one of"):
        capture.wanted("fast", cpu)


def test_the_cost_runner_captures_a_floor_too():
    """bench.costs.stepper: a captured method and its floor's extra forward are both compiled."""
    r = stepper.make_runner(dict(method="softmax", model="small_cnn", batch_size=32, compile="aot_eager",
                                 extra_forward=16, extra_forward_bn="batch"))
    for _ in range(2):
        out = r.step()
    assert r.captured is not None and r.captured.record()["ran"] == "compiled" and torch.isfinite(out["loss"])
    assert r.extra_forward.__class__.__name__ != "method"   # compiled, not the plain bound method


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="inductor needs a C++ compiler")
def test_inductor_on_a_cpu_equals_eager():
    """The backend a GPU run uses ("on"), code generation included, on softmax."""
    eager_sums, _, eager_p, _ = three_steps("softmax", "off")
    sums, _, p, rec = three_steps("softmax", "on")
    assert rec["ran"] == "compiled" and rec["backend"] == "inductor" and rec["mode"] == "default"
    assert_same([sums["loss"]], [eager_sums["loss"]], "loss", tol=1e-4)
    assert_same(p, eager_p, "parameters", tol=1e-4)


def test_each_captured_step_counts_its_own_graphs():
    """Dynamo's counters are per process; each captured step reports its own share (gpu-check's
    table builds several in one process)."""
    runners = [stepper.make_runner(dict(method=m, model="small_cnn", batch_size=32, compile="aot_eager"))
               for m in ("softmax", "gce")]
    runners[0].step(), runners[0].step()
    first = runners[0].captured.record()
    runners[1].step(), runners[1].step()
    assert runners[0].captured.record() == first and first["graphs"] >= 1
    assert runners[1].captured.record()["graphs"] >= 1
