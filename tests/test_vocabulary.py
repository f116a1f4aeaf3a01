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
    ("mwn", "normalise", "normalize"),
])
def test_an_old_name_is_refused_naming_the_new_one(method, old, new):
    with pytest.raises(ValueError, match=f"'{old}' is now called '{new}'"):
        make_runner(dict(method=method, batch_size=16, hparams={old: 20}))


def test_the_shared_concepts_have_one_name_in_every_method():
    for name in ("l2r", "mwn", "fsr"):
        assert {"reward_batch", "reward_augment", "meta_layers"} <= set(METHODS[name].defaults), name
    assert issubclass(METHODS["l2r"], LookAhead) and issubclass(METHODS["mwn"], LookAhead)
    assert "normalize" in METHODS["mwn"].defaults and "normalize" in METHODS["fsr"].defaults


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
