"""Every row is a full record: what ran (the resolved hyper-parameters and settings, the values
computed as it ran) and on which machine; what a trial is, one definition that a changed default
changes; the README's column list is the schema's."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import torch

import reports
from bench.trial import harness
from bench.sweep import profiles, runner, store, suites
from bench.costs import stepper
from bench.cli import main
from bench.sweep.provenance import machine
from methods import get_method_class
from reports.schema import columns

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_lists_the_schemas_columns_in_order():
    text = README.read_text()
    found = re.search(r"one row per finished trial, readable by pandas without the project:\s*`([^`]*)`", text)
    assert found, "the README's Results store section lost its column list"
    assert [c.strip() for c in found.group(1).split(",")] == columns()


def _fsr_trial(**settings) -> dict:
    t = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["fsr"], seeds=1)[0]
    t = dict(t, **settings)
    t["trial_id"] = suites.trial_id(t)
    return t


def test_a_row_says_what_ran_and_on_which_machine(tmp_path, monkeypatch):
    """The row of a trial run as a Ray worker runs it (``runner.trainable``, Tune's calls stood
    in for): its hyper-parameters with the method's defaults, the resolved settings, FSR's
    dictionary size after its cap, and the machine."""
    t = _fsr_trial(epochs=1)
    reported = []
    monkeypatch.setattr(runner, "tune", SimpleNamespace(
        report=reported.append, get_context=lambda: SimpleNamespace(get_trial_dir=lambda: str(tmp_path))))
    runner.trainable({"trial": t, "threads": 1})
    result = reported[-1]
    assert result["status"] == "ok", result.get("error")
    store.append_row(tmp_path, runner.make_row(t, result))
    row = store.read_rows(tmp_path)[0]
    hparams, extra = json.loads(row["hparams"]), json.loads(row["extra"])

    fsr = get_method_class("fsr")
    assert hparams == {**fsr.defaults, **t["hparams"]} and set(t["hparams"]) < set(hparams)
    settings = extra["settings"]
    for key in ("batch_size", "optim", "schedule", "reward_per_class", "ema_decay", "train_limit", "eval_batch_size",
                "max_steps", "precision", "top5"):
        assert settings[key] == {**harness.DEFAULTS, **t}[key], key
    assert not set(settings) & set(columns())          # each fact once: a column or a setting
    n, C = int(row["num_train"]), 10
    cap = min(hparams["dictionary_size"], int(hparams["dictionary_max_fraction"] * n)) // C * C
    effective = extra["effective"]
    assert effective["hparams"]["dictionary_size"] == cap < hparams["dictionary_size"]   # smoke caps |R|
    assert effective["steps_per_epoch"] == n // settings["batch_size"] == effective["total_steps"]
    m = extra["machine"]
    assert m["cpu"] and m["threads"] == int(row["threads"]) == 1 and m["gpu"] == ""
    assert m["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert row["config_id"] == suites.config_id(t) and row["trial_id"] == t["trial_id"]


def test_the_machine_names_the_cpus_vector_extensions():
    m = machine()
    assert set(m) == {"cpu", "cpu_flags", "cpu_capability", "cpus", "gpu", "threads"}
    try:
        flags = next(ln for ln in open("/proc/cpuinfo") if ln.lower().startswith(("flags", "features"))).split(":")[1]
    except (OSError, StopIteration):
        return
    ours = m["cpu_flags"].split()
    assert set(ours) <= set(flags.split()) and "smep" not in ours   # vector extensions only
    assert ours == sorted(ours) and (ours or "avx" not in flags)


def test_what_a_trial_is_is_one_resolved_config():
    """``resolved``: the config over the harness's (a cost trial: the step runner's) and the
    method's defaults, without execution-only keys; trial_id and config_id hash it."""
    t = _fsr_trial()
    ident = suites.resolved(t)
    assert ident["eval_batch_size"] == harness.DEFAULTS["eval_batch_size"] and "device" not in ident
    assert ident["hparams"]["alpha"] == get_method_class("fsr").defaults["alpha"]
    same = dict(t, hparams={**t["hparams"], "alpha": ident["hparams"]["alpha"]}, device="cpu", channels_last=True)
    assert suites.trial_id(same) == t["trial_id"] and suites.config_id(same) == suites.config_id(t)
    assert suites.trial_id(dict(t, eval_batch_size=500)) != t["trial_id"]
    assert suites.config_id(dict(t, seed=1)) == suites.config_id(t) != suites.config_id(dict(t, batch_size=50))
    cost = suites.expand(suites.SUITES["cost"], "smoke", methods=["fsr"], seeds=1)[0]
    assert suites.resolved(cost)["extra_forward"] == stepper.DEFAULTS["extra_forward"]
    # the data read from disk stay part of it
    assert suites.trial_id(dict(t, data_identity={"root": "/x"})) != t["trial_id"]


def test_trial_settings_are_declared_once():
    """The step runner shares the harness's defaults; every checked setting is a harness setting."""
    for key in stepper.SHARED:
        assert stepper.DEFAULTS[key] is harness.DEFAULTS[key], key
    for key in profiles.SETTINGS:
        head, _, name = key.partition(".")
        assert (name in harness.DEFAULTS[head]) if name else key in harness.DEFAULTS, key


def test_a_changed_default_is_a_new_configuration_resume_runs_and_the_report_shows_apart(tmp_path, monkeypatch):
    """softmax's default changes between two runs of one store: --resume runs softmax's trial
    again (FSR's stays done) and the report keeps the two softmax rows apart (two config ids)."""
    ran = []

    def fake_run_trials(todo, out, **kw):   # rows as the runner writes them, without training
        for t in todo:
            ran.append(t["method"])
            store.append_row(out, runner.make_row(t, {"status": "ok", "test_acc": 0.5, "best_acc": 0.5}))
        return SimpleNamespace(done=len(todo), failed=0)

    monkeypatch.setattr(runner, "run_trials", fake_run_trials)
    out = str(tmp_path / "out")
    argv = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax,fsr", "--seeds", "1",
            "--corruptions", "uniform:0.4", "--out", out]
    assert main(argv) == 0 and sorted(ran) == ["fsr", "softmax"]
    assert main(argv + ["--resume"]) == 0 and sorted(ran) == ["fsr", "softmax"]   # nothing left to run
    monkeypatch.setitem(get_method_class("softmax").defaults, "label_smoothing", 0.1)
    assert main(argv + ["--resume"]) == 0 and sorted(ran) == ["fsr", "softmax", "softmax"]

    df = reports.load_results(out)
    soft = df[df["method"] == "softmax"]
    assert len(soft) == 2 and soft["config_id"].nunique() == 2 and soft["label"].nunique() == 2
    assert sorted(json.loads(h)["label_smoothing"] for h in soft["hparams"]) == [0.0, 0.1]
    assert df.loc[df["method"] == "fsr", "label"].tolist() == ["fsr"]
    path = reports.build_report(out, formats=("md",), suites=suites.report_declarations())
    text = Path(path).read_text()
    assert all(label in text for label in soft["label"])
