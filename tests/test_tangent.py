"""The tangent-only pass (methods._tangent.Recorder) against torch.func.jvp, on every network
of bench.trial.models, in training (batch statistics) and eval (running statistics) mode."""
import copy
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import jvp

from bench.trial.models import MODELS, build_model
from methods.base import per_sample_ce
from methods._functional import fcall, meta_parameter_names
from methods._tangent import Recorder, UnsupportedGraph, ce_tangent, recorder_or_none

SHAPES = {"small_cnn": [(1, 12), (3, 8, 8)], "small_cnn_fast": [(3, 16, 16)], "mlp": [(1, 12)], "resnet32": [(3, 16, 16)],
          "wrn28_10": [], "wrn28_2": [(3, 8, 8)],   # WRN-28-10 is WRN-28-2 wider: same graph
          "resnet18": [], "resnet50": []}   # max-pooling has no tangent rule: torch.func.jvp (tested below)


def reference(model, x, y, direction):
    """Per-sample CE and its derivative along ``direction`` by torch.func.jvp: batch
    statistics in training mode (buffers None), the running ones in eval mode."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: None if model.training else b for n, b in model.named_buffers()}
    f = lambda p: per_sample_ce(fcall(model, p, x, buffers), y)
    return jvp(f, (params,), ({n: direction.get(n, torch.zeros_like(p)) for n, p in params.items()},))


def test_every_model_has_shapes():
    assert set(SHAPES) == set(MODELS)


def test_torchvision_resnets_fall_back_to_torch_func():
    with pytest.warns(UserWarning, match="maxpool.*torch.func.jvp"):
        assert recorder_or_none(MODELS["resnet18"]((3, 16, 16), 4), "l2r") is None


@pytest.mark.parametrize("train", [True, False], ids=["batch-stats", "running-stats"])
@pytest.mark.parametrize("meta_layers", ["all", "fc", 2])
@pytest.mark.parametrize("name,shape", [(n, s) for n, shapes in SHAPES.items() for s in shapes])
def test_matches_torch_func_jvp(name, shape, meta_layers, train):
    torch.manual_seed(0)
    model = build_model(name, shape, 5).double()
    for m in model.modules():   # non-trivial running statistics and affine parameters
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    model.train(train)
    x, y = torch.randn(6, *shape, dtype=torch.double), torch.randint(0, 5, (6,))
    names = meta_parameter_names(model, meta_layers)
    direction = {n: torch.randn_like(p) for n, p in model.named_parameters() if n in names}
    ref_loss, ref_dots = reference(model, x, y, direction)

    rec = Recorder(model)
    logits = rec.forward(x)
    loss = per_sample_ce(logits, y)
    dots = ce_tangent(logits, y, rec.tangent(direction))
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-12)
    assert ref_dots.abs().max() > 0
    assert float((dots - ref_dots).norm() / ref_dots.norm()) <= 1e-10
    assert rec.env is None            # released after the tangent
    loss.sum().backward()             # the recorded forward is an ordinary autograd graph
    assert model.fc.weight.grad is not None


def test_forward_is_the_models_forward():
    """Same output and the same BatchNorm running-statistic update as ``model(x)``."""
    torch.manual_seed(0)
    model = build_model("resnet32", (3, 16, 16), 5).double().train()
    twin = copy.deepcopy(model)
    x = torch.randn(6, 3, 16, 16, dtype=torch.double)
    torch.testing.assert_close(Recorder(model).forward(x), twin(x), rtol=0, atol=0)
    for (n, b), (_, t) in zip(model.named_buffers(), twin.named_buffers()):
        assert torch.equal(b, t), n


def test_ce_tangent():
    logits = torch.randn(4, 3, dtype=torch.double)
    y, d = torch.tensor([0, 2, 1, 2]), torch.randn(4, 3, dtype=torch.double)
    _, ref = jvp(lambda z: F.cross_entropy(z, y, reduction="none"), (logits,), (d,))
    torch.testing.assert_close(ce_tangent(logits, y, d), ref)


class _Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.gelu(x))


def test_unsupported_graph_is_refused_and_callers_fall_back():
    with pytest.raises(UnsupportedGraph, match="gelu"):
        Recorder(_Gelu())
    with pytest.warns(UserWarning, match="torch.func.jvp"):
        assert recorder_or_none(_Gelu(), "mwn") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert recorder_or_none(build_model("mlp", (1, 12), 5), "mwn") is not None


def test_tangent_needs_a_forward():
    rec = Recorder(build_model("mlp", (1, 12), 5))
    with pytest.raises(RuntimeError, match="forward"):
        rec.tangent({})


class _TwoUsersOfInplaceRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(4, 4), nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.fc(x)
        return self.act(h) + h


class _ScaledAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.add(self.fc(x), x, alpha=2.0)


@pytest.mark.parametrize("model", [_TwoUsersOfInplaceRelu(), _ScaledAdd()], ids=["inplace-relu", "add-alpha"])
def test_unsafe_graphs_are_refused(model):
    with pytest.raises(UnsupportedGraph):
        Recorder(model)


def test_recorder_for_checks_meta_grad():
    from methods._tangent import recorder_for
    model = build_model("mlp", (1, 12), 5)
    assert isinstance(recorder_for(model, "jvp", "l2r"), Recorder)
    assert recorder_for(model, "func_jvp", "l2r") is None and recorder_for(model, "double_backprop", "mwn") is None
    with pytest.raises(ValueError, match="mwn: meta_grad"):
        recorder_for(model, "bogus", "mwn")
