"""Tests of the reports package (reads only DIR/results.csv).

Golden files: ``tests/data/results_fixture.csv`` is a small hand-made results store (four
suites, 1-3 seeds per cell, two failed trials, one trial id retried after a failure, one
missing cell). The report built from it must equal ``tests/data/expected/{report.md,
report.tex, summary.csv}`` exactly. After an intended change of the output, regenerate them
with

    UPDATE_GOLDEN=1 /work/venv/bin/python -m pytest tests/test_reports.py

and review the diff of tests/data/expected/ before committing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reports
from bench.sweep.suites import report_declarations

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "results_fixture.csv"
EXPECTED = DATA / "expected"
GOLDEN = ("report.md", "report.tex", "summary.csv")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    shutil.copy(FIXTURE, out / "results.csv")
    md = reports.build_report(out, formats=("md", "tex", "csv"), suites=report_declarations())
    return out, md


@pytest.mark.parametrize("name", GOLDEN)
def test_golden(built, name):
    out, md = built
    assert md == out / "report" / "report.md"
    got = (out / "report" / name).read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        EXPECTED.mkdir(parents=True, exist_ok=True)
        (EXPECTED / name).write_text(got, encoding="utf-8")
    want = (EXPECTED / name).read_text(encoding="utf-8")
    assert got == want, f"{name} differs from the golden file; see the docstring to regenerate"


def test_plots_are_pngs_and_linked(built):
    out, md = built
    pngs = sorted((out / "report" / "plots").glob("*.png"))
    names = {p.name.split("_")[0] for p in pngs}
    assert {"acc", "purity", "zero", "cost", "shots"} <= names, names
    text = md.read_text(encoding="utf-8")
    for p in pngs:
        data = p.read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{p.name})" in text


def test_report_content(built):
    _, md = built
    text = md.read_text(encoding="utf-8")
    assert "Trials: 66 ok, 2 failed (68 trial ids; 1 earlier row" in text
    assert "FloatingPointError: train_loss is nan" in text and "method mwn is not registered" in text
    assert "| FSR (published, WRN-28-10; as fsr where compared) | *96.80* | *95.10* | *93.70* | *82.80* |" in text
    assert "| CB-Best (published, ResNet-32; " in text
    assert "(n=2, 1 failed)" in text and "| — |" in text      # failed seed and missing cell visible
    assert "Cells with fewer than 3 seeds" in text
    mixed = text.split("## Mixed")[1].split("## Cost")[0]
    assert "published" not in mixed                              # quick profile: no paper numbers
    assert "**96.17 ± 0.42 (n=3)**" in text                      # best per column in bold


def test_last_row_per_trial_and_torn_line(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "results.csv")
    with open(tmp_path / "results.csv", "a") as f:
        f.write("torn,label_noise,paper")                       # a killed writer's last line
    df = reports.load_results(tmp_path)
    assert len(df) == 68 and df.attrs["rows_read"] == 69
    retried = df[df["trial_id"] == "retry-fsr-0.2-s0"]
    assert len(retried) == 1 and retried["status"].item() == "ok"


@pytest.mark.parametrize("content", [None, "", "trial_id,suite,status\n"])
def test_missing_or_empty_store(tmp_path, content):
    if content is not None:
        (tmp_path / "results.csv").write_text(content)
    with pytest.raises(reports.ReportError) as e:
        reports.build_report(tmp_path)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "report").exists()


def test_unknown_format(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "results.csv")
    with pytest.raises(reports.ReportError, match="unknown report format"):
        reports.build_report(tmp_path, formats=("md", "pdf"))


def test_summarize_guards_and_determinism():
    s = reports.summarize([0.5])
    assert s["n"] == 1 and s["mean"] == 0.5 and np.isnan(s["std"]) and np.isnan(s["ci_low"])
    assert reports.summarize([np.nan, np.nan])["n"] == 0
    a, b = reports.summarize([0.1, 0.2, 0.4]), reports.summarize([0.1, 0.2, 0.4])
    assert a == b and a["ci_low"] <= a["mean"] <= a["ci_high"]
    assert reports.summarize([0.3, 0.3])["ci_low"] == 0.3


def test_does_not_import_the_harness():
    code = ("import sys, reports; bad = sorted({m.split('.')[0] for m in sys.modules} "
            "& {'bench', 'methods', 'datasets', 'torch'}); print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cost_ratios_use_plain_softmax_only():
    """A softmax variant (the cost suite's fsr-floor) is a row like any other, not the baseline."""
    import pandas as pd

    from reports.stats import add_cost_ratios
    rows = [("softmax", "softmax", 1.0, 100.0), ("softmax", "softmax", 1.0, 100.0),
            ("softmax", "fsr-floor", 1.5, 110.0), ("fsr", "fsr", 1.6, 102.0)]
    df = pd.DataFrame([dict(suite="cost", profile="quick", dataset="cifar10", model="resnet32", method=m,
                            variant=v, status="ok", step_time_s=t, peak_mem_mb=mem) for m, v, t, mem in rows])
    out = add_cost_ratios(df)
    assert out["step_time_ratio"].tolist() == [1.0, 1.0, 1.5, 1.6]
    assert out["peak_mem_ratio"].tolist() == pytest.approx([1.0, 1.0, 1.1, 1.02])


def test_curves_come_from_the_trial_directories_the_rows_name(tmp_path):
    """--storage may put the trial directories outside OUT: each row names its own (``trial_dir``
    in ``extra``), and the report reads the per-epoch curves there."""
    import json

    from bench.sweep import runner, store, suites

    out, storage = tmp_path / "out", tmp_path / "elsewhere"
    trials = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)
    for t in trials:
        d = storage / "label_noise-smoke-x" / f"{t['trial_id']}-softmax"
        d.mkdir(parents=True)
        (d / "result.json").write_text("".join(json.dumps({"epoch": e, "test_acc": 0.2 * e}) + "\n" for e in (1, 2)))
        store.append_row(out, runner.make_row(t, {"status": "ok", "test_acc": 0.4, "trial_dir": str(d)}))
    md = reports.build_report(out, suites=report_declarations()).read_text(encoding="utf-8")
    pngs = sorted((out / "report" / "plots").glob("curves*.png"))
    assert pngs and all(f"(plots/{p.name})" in md for p in pngs)
    from reports.curves import read_curves, row_dirs

    rows = reports.load_results(out)
    curves = read_curves(out, rows["trial_id"], row_dirs(rows))
    assert len(curves) == 2 * len(trials) and set(curves["test_acc"]) == {0.2, 0.4}
