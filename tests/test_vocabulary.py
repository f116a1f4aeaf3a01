"""One name per concept across methods: old hyper-parameter names are refused with the new one;
``meta_layers`` means the same for L2R, MWN and FSR; L2R and MWN share one look-ahead base."""
import pytest
import torch

from bench.costs.stepper import make_runner
from bench.trial.models import build_model
from methods import METHODS
from methods._functional import meta_parameter_names
from methods._lookahead import LookAhead


@pytest.mark.parametrize("method,old,new", [
    ("l2r", "reward_batch_size", "reward_batch"), ("l2r", "augment_reward", "reward_augment"),
    ("mwn", "meta_batch_size", "reward_batch"), ("mwn", "augment_meta", "reward_augment"),
    ("mwn", "normalise", "normalize"), ("fsr", "lam", "score_momentum"), ("fsr", "normalize", "weight_rule"),
    ("fsr", "warmup_epochs", "reweight_start"), ("fsr_df", "normalize", "weight_rule"),
    ("elr", "lam", "reg_weight"), ("elr", "beta", "target_momentum"),
])
def test_an_old_name_is_refused_naming_the_new_one(method, old, new):
    with pytest.raises(ValueError, match=f"'{old}' is now called '{new}'"):
        make_runner(dict(method=method, batch_size=16, hparams={old: 20}))


def test_the_shared_concepts_have_one_name_in_every_method():
    for name in ("l2r", "mwn", "fsr"):
        assert {"reward_batch", "reward_augment", "meta_layers"} <= set(METHODS[name].defaults), name
    assert issubclass(METHODS["l2r"], LookAhead) and issubclass(METHODS["mwn"], LookAhead)
    assert "normalize" in METHODS["mwn"].defaults and "weight_rule" in METHODS["fsr"].defaults


def test_a_name_has_one_meaning_across_methods():
    """A hyper-parameter name two methods share has one kind of value (no string in one and a
    bool in another); the names once used for several things are each one method's now."""
    kinds: dict = {}
    for name, cls in METHODS.items():
        for key, value in cls.defaults.items():
            kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value)
            kinds.setdefault(key, {})[name] = kind
    # (FSR's reweight_start is an epoch or "lr_decay", FSR-DF's default the latter)
    mixed = {k: v for k, v in kinds.items() if k != "reweight_start" and len(set(v.values())) > 1}
    assert not mixed
    owners = {k: {m for m in v if m != "fsr_df"} for k, v in kinds.items()}
    assert owners["normalize"] == {"mwn"} and owners["beta"] == {"cb"}
    assert "lam" not in kinds and "warmup_epochs" not in kinds
    assert all(not k.startswith("warmup") for k in kinds)   # a schedule's warmup is the learning rate's

def test_meta_layers_int_is_the_last_k_modules_for_fsr_too():
    """FSR's meta_layers=2 once meant its last two parameter tensors (fc.weight, fc.bias): the
    same layer as "fc". Now it is the last two modules with parameters, as for L2R and MWN."""
    model = build_model("small_cnn", (1, 40), 10)
    assert meta_parameter_names(model, 2) == ["body.7.weight", "body.7.bias", "fc.weight", "fc.bias"]
    weights = {}
    for layers in ("fc", 2):
        torch.manual_seed(0)
        r = make_runner(dict(method="fsr", batch_size=32, hparams={"meta_layers": layers, "reward_batch": 20}))
        weights[layers] = r.step()["weights"]
    assert not torch.allclose(weights["fc"], weights[2])


@pytest.mark.parametrize("method", ["l2r", "mwn"])
def test_a_tangent_pass_failing_at_run_time_warns_once_and_falls_back_exactly(method):
    """Should the tangent-only pass break (a torch upgrade), the step goes on with torch.func.jvp:
    the same weights as meta_grad="func_jvp", one warning, and the fast path is not tried again."""
    want = make_runner(dict(method=method, batch_size=16, hparams={"meta_grad": "func_jvp"})).step()["weights"]
    r = make_runner(dict(method=method, batch_size=16))
    assert r.method.recorder is not None

    def broken(direction, keep=False):
        raise RuntimeError("no such aten op")

    r.method.recorder.tangent = broken
    with pytest.warns(UserWarning, match="tangent-only pass failed.*torch.func.jvp"):
        got = r.step()["weights"]
    assert r.method.recorder is None
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_a_method_draws_from_named_streams_of_the_trial_seed():
    """One seed path: the context carries the trial's seed and hands out named streams, each at
    its declared offset (today's seeds: the numbers stay as they were); no method seeds its own."""
    from pathlib import Path

    import methods
    from methods.base import STREAMS, Context, stream_offset
    ctx = Context(num_classes=2, class_counts=torch.ones(2), num_train=2, epochs=1, steps_per_epoch=1,
                  batch_size=1, seed=5)
    assert {n: ctx.stream(n).initial_seed() for n in STREAMS} == {
        "fsr": 5 + 7919, "l2r.reward": 5 + 7919, "mwn.reward": 5 + 104729, "gce.prune": 5 + 104729}
    a, b = ctx.stream("mine.noise"), ctx.stream("mine.noise")
    assert a.initial_seed() == b.initial_seed() == 5 + stream_offset("mine.noise")
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    assert stream_offset("mine.noise") != stream_offset("mine.other")
    for path in Path(methods.__file__).parent.glob("*.py"):
        if path.name != "base.py":
            assert "manual_seed" not in path.read_text() and "initial_seed" not in path.read_text(), path.name


def test_methods_import_nothing_of_datasets():
    """The device helper lives beside the methods (methods._device): no methods -> datasets arrow."""
    import ast
    from pathlib import Path

    import methods
    for path in Path(methods.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(n.split(".")[0] == "datasets" for n in names), path.name


def test_a_cost_runs_untimed_steps_and_refuses_the_old_warmup_name():
    """``warmup`` is a schedule's learning-rate warm-up only; the cost instruments' untimed
    steps before timing are ``untimed_steps`` everywhere (config, compare, the cost suite)."""
    import inspect

    from bench.costs import compare, overhead, stepper
    from bench.sweep.suites import SUITES
    assert "untimed_steps" in stepper.DEFAULTS and "warmup" not in stepper.DEFAULTS
    assert "untimed_steps" in inspect.signature(compare.compare).parameters
    assert "untimed_steps" in inspect.signature(overhead.overhead).parameters
    assert "untimed_steps" in SUITES["cost"].overrides and "warmup" not in SUITES["cost"].overrides
    with pytest.raises(ValueError, match="'warmup' is now called 'untimed_steps'"):
        make_runner(dict(method="softmax", warmup=2))
