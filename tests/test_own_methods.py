"""A user's own method without forking: ``--methods package.module:Class`` and the
``reweight_bench.methods`` entry points; it runs in a suite's harness and report like a
built-in one."""
from __future__ import annotations

import json
import re
import textwrap

import pandas as pd
import pytest

import reports
from bench.trial import harness
from bench.sweep import suites
from bench.cli import main
from methods import get_method_class, plugin_methods

MODULE = textwrap.dedent('''
    from methods.base import Method, per_sample_ce

    class Mine(Method):
        """Cross-entropy on the samples the network already fits best (a toy)."""
        defaults = {"keep": 0.8}

        def train_step(self, batch, info):
            ce = per_sample_ce(self.model(batch.x), batch.y)
            k = max(1, int(self.hp["keep"] * len(ce)))
            loss = ce.topk(k, largest=False).values.mean()
            self.sgd_step(loss)
            return {"loss": loss.detach()}

    NotAMethod = object
''')


@pytest.fixture
def own_module(tmp_path, monkeypatch):
    (tmp_path / "own_methods_mod.py").write_text(MODULE)
    (tmp_path / "own_raising_mod.py").write_text('raise RuntimeError("no GPU driver\\nsecond line")\n')
    (tmp_path / "own_syntax_mod.py").write_text("def broken(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_module_class_spec_trains_in_the_harness(own_module):
    cls = get_method_class("own_methods_mod:Mine")
    assert cls.__name__ == "Mine" and cls.defaults == {"keep": 0.8}
    t = next(t for t in suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1))
    r = harness.train(dict(t, method="own_methods_mod:Mine", hparams={"keep": 0.5}, epochs=1))
    assert 0 <= r["test_acc"] <= 1


@pytest.mark.parametrize("spec,needle", [("no_such_module_xyz:M", "cannot be imported"),
                                         ("own_methods_mod:Nope", "cannot be imported"),
                                         ("own_methods_mod:NotAMethod", "not a methods.base.Method subclass"),
                                         ("own_raising_mod:M", "cannot be imported (RuntimeError: no GPU driver)"),
                                         ("own_syntax_mod:M", "cannot be imported (SyntaxError: "),
                                         (".relative:Foo", "a relative module name"),
                                         (":Foo", "empty module name"),
                                         ("own_methods_mod:", "empty class name")])
def test_an_unusable_spec_is_one_line(own_module, capsys, spec, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        get_method_class(spec)
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", spec, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_an_entry_point_registers_a_method_by_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "own_plugin_mod.py").write_text(MODULE)
    info = tmp_path / "own_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: own-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[reweight_bench.methods]\nplugged = own_plugin_mod:Mine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugin_methods()["plugged"].__name__ == "Mine" and get_method_class("plugged").defaults == {"keep": 0.8}
    assert main(["list"]) == 0 and "plugged" in capsys.readouterr().out
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax,plugged",
                 "--set", "plugged.keep=0.5", "--dry-run"]) == 0
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {t["method"] for t in trials} == {"softmax", "plugged"}
    assert all(t["hparams"] == {"keep": 0.5} for t in trials if t["method"] == "plugged")




@pytest.mark.ray
def test_a_users_method_runs_through_ray_into_the_report(own_module, monkeypatch):
    monkeypatch.chdir(own_module)   # workers find the module where the driver runs
    out = own_module / "res"
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax,own_methods_mod:Mine",
                 "--corruptions", "uniform:0.4", "--out", str(out)]) == 0
    df = pd.read_csv(out / "results.csv")
    mine = df[df["method"] == "own_methods_mod:Mine"]
    assert len(mine) == 1 and (mine["status"] == "ok").all() and mine["variant"].tolist() == ["Mine"]
    md = reports.build_report(out, suites=suites.report_declarations(), plots=False).read_text()
    assert "| Mine |" in md
