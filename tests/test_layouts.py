"""Report layouts and metrics as declarations: every suite's entries land in its tables (beside
the paper's numbers where the paper has them), and a toy method and a toy metric reach
results.csv and the report with no edit in reports/."""
from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

import methods
import reports
from bench.trial import harness
from bench.sweep import runner, store, suites
from methods.base import Method, per_sample_ce
from reports import kinds, metrics, paper
from reports.layouts import SuiteReport

FAKE = dict(test_acc=0.5, best_acc=0.6, dict_purity=0.9, zero_weight_ratio=0.3, weight_auroc=0.8,
            many_acc=0.7, medium_acc=0.5, few_acc=0.2, step_time_s=0.01, peak_mem_mb=100.0, num_reward=50,
            status="ok")


def _row_of(text: str, label: str) -> bool:
    """A table row named ``label`` (grids of noise rows append ", noise r")."""
    return re.search(rf"^\| {re.escape(label)}( \||, noise )", text, re.M) is not None


def _published_somewhere(suite, entry, profile) -> bool:
    decl = suite.declaration()
    for t in suites.expand(suite, profile, seeds=1):
        if t["variant"] != entry.label or not decl.paper_tables:
            continue
        row = runner.make_row(t, {})
        if paper.lookup(t["dataset"], t["model"], row["noise_type"] if row["noise_ratio"] else "none",
                        row["noise_ratio"], row["imbalance_ratio"], entry.paper_row,
                        sources=set(decl.paper_tables)):
            return True
    return False


@pytest.mark.parametrize("profile", suites.PROFILES)
def test_every_entry_of_every_suite_lands_in_its_tables(tmp_path, profile):
    declared = suites.report_declarations()
    for suite in suites.SUITES.values():
        for t in suites.expand(suite, profile, seeds=1):
            store.append_row(tmp_path, runner.make_row(t, FAKE))
    md = reports.build_report(tmp_path, suites=declared, plots=False).read_text()
    sections = {s.split("\n", 1)[0]: s for s in md.split("\n## ")}
    for name, suite in suites.SUITES.items():
        text = sections[declared[name].title]
        for e in suite.entries:
            if not e.runs_in(profile):
                continue
            assert _row_of(text, e.label), (profile, name, e.label)
            if profile == "paper" and e.paper_row and _published_somewhere(suite, e, profile):
                assert f"| {e.paper_row} (published" in text, (name, e.label, e.paper_row)
            if profile == "paper" and "cost" in declared[name].tables and e.paper_row in paper.PUBLISHED_COST:
                line = next(ln for ln in text.splitlines() if ln.startswith(f"| {e.label} |") and "time +" in ln)
                assert "memory +" in line


def test_the_fsr_df_row_of_the_long_tail_table_is_beside_its_published_numbers(tmp_path):
    """The bug that started this: FSR-DF's published row never appeared."""
    for t in suites.expand(suites.SUITES["long_tail"], "paper", seeds=1, methods=["fsr_df"]):
        store.append_row(tmp_path, runner.make_row(t, FAKE))
    md = reports.build_report(tmp_path, suites=suites.report_declarations(), plots=False).read_text()
    assert re.search(r"^\| FSR-DF \(published, ResNet-32; [^|]+\) \| \*66\.15\* \| \*79\.78\* \| \*88\.15\* \|$", md, re.M)


class Toy(Method):
    """A one-file method: plain cross-entropy; at every epoch end a toy score (1/4 + epoch)."""

    def train_step(self, batch, info):
        loss = per_sample_ce(self.model(batch.x), batch.y).mean()
        self.sgd_step(loss)
        return {"loss": loss.detach()}

    def on_epoch_end(self, epoch):
        return {"toy_score": 0.25 + epoch}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(methods.METHODS, "toy", Toy)
    metrics.declare(metrics.Metric("toy_score", "toy score", producer="method", source="epoch",
                                   tables=("diagnostics",), scale=1.0))
    yield
    metrics.withdraw("toy_score")


def test_a_toy_method_and_metric_reach_the_store_and_the_report(tmp_path, toy):
    suite = suites.Suite("toy_suite", "a suite declared in a test", "noise", ["uniform:0.4"],
                         [suites.Entry("softmax"), suites.Entry("toy", variant="toy-a")],
                         report=SuiteReport("Toy suite", "noise_ratio"))
    for t in suites.expand(suite, "smoke", seeds=1):
        store.append_row(tmp_path, runner.make_row(t, {**harness.train(dict(t, epochs=2)), "status": "ok"}))
    df = pd.read_csv(tmp_path / "results.csv")
    assert "toy_score" in df.columns
    assert df.set_index("variant").loc["toy-a", "toy_score"] == 1.25      # last epoch (1): 0.25 + 1
    assert pd.isna(df.set_index("variant").loc["softmax", "toy_score"])  # softmax does not produce it
    md = reports.build_report(tmp_path, suites={"toy_suite": suite.declaration()}, plots=False).read_text()
    section = md.split("## Toy suite", 1)[1]
    assert _row_of(section, "toy-a") and _row_of(section, "softmax")
    diag = section.split("**Re-weighting diagnostics (%)", 1)[1]
    assert "toy score" in diag.splitlines()[2] and "1.25 (n=1)" in diag
    summary = reports.prepare(tmp_path)[1]
    assert summary.set_index("label").loc["toy-a", "toy_score_mean"] == 1.25


def test_a_suite_without_a_declaration_gets_the_generic_report(tmp_path):
    for t in suites.expand(suites.SUITES["ablation"], "smoke", seeds=1):
        store.append_row(tmp_path, runner.make_row(t, FAKE))
    md = reports.build_report(tmp_path, plots=False).read_text()
    assert "## ablation" in md and "method \\ corruption" in md and _row_of(md, "fsr-raw")


def test_a_declaration_with_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        SuiteReport("x", columns="by_moon_phase")
    for bad in (dict(tables=("pie",)), dict(plots=("pie",)), dict(plots=("purity_vs_accuracy",))):   # across suites
        with pytest.raises(ValueError, match="unknown pie|unknown purity"):
            SuiteReport("x", **bad)
    with pytest.raises(ValueError, match="unknown table kinds"):
        metrics.declare(metrics.Metric("x", "x", tables=("pie",)))
    assert "x" not in metrics.stored()


def test_each_report_kind_is_declared_once_with_its_builder_and_title():
    """One registry per kind (reports.kinds): what a suite may list is what the report builds,
    and every metric group a metric names is shown by a table kind."""
    assert set(kinds.TABLES) == {"grid", "shots", "diagnostics", "cost", "tuned"}
    assert set(kinds.per_suite_plots()) == {"accuracy_vs_noise", "shots", "cost", "curves"}
    assert kinds.across_plots() == ["purity_vs_accuracy", "zero_weight_vs_noise"]
    assert all(callable(k.build) for k in [*kinds.TABLES.values(), *kinds.PLOTS.values()])
    assert all(p.title for p in kinds.PLOTS.values())
    assert {g for m in metrics.METRICS for g in m.tables} <= kinds.metric_groups()
    for report in suites.report_declarations().values():
        assert set(report.tables) <= set(kinds.TABLES) and set(report.plots) <= set(kinds.per_suite_plots())


def test_the_profile_beside_the_paper_is_the_declarations(tmp_path):
    """The published rows and costs follow SuiteReport.published_profile, not a profile's name."""
    decl = dict(suites.report_declarations())
    decl["cost"] = dataclasses.replace(decl["cost"], published_profile="smoke")
    for t in suites.expand(suites.SUITES["cost"], "smoke", seeds=1):
        store.append_row(tmp_path, runner.make_row(t, FAKE))
    md = reports.build_report(tmp_path, suites=decl, plots=False).read_text()
    assert "published (Fig. 4)" in md
    md = reports.build_report(tmp_path, suites=suites.report_declarations(), plots=False).read_text()
    assert "published (Fig. 4)" not in md


def test_per_epoch_curves_come_from_the_trial_directories(tmp_path):
    import json as _json

    trials = suites.expand(suites.SUITES["ablation"], "smoke", seeds=1)
    for i, t in enumerate(trials):
        store.append_row(tmp_path, runner.make_row(t, FAKE))
        d = tmp_path / "ray" / "ablation-smoke-x" / f"{t['trial_id']}-{t['method']}-{t['corruption']}-s0"
        d.mkdir(parents=True)
        lines = [{"epoch": e, "test_acc": 0.1 * e + 0.01 * i, **({"dict_purity": 0.5 + 0.1 * e} if t["method"] == "fsr" else {})}
                 for e in (1, 2, 3)]
        (d / "result.json").write_text("\n".join(map(_json.dumps, lines)) + "\n{torn")
    md = reports.build_report(tmp_path, suites=suites.report_declarations()).read_text()
    pngs = sorted((tmp_path / "report" / "plots").glob("curves*.png"))
    assert len(pngs) == 1 and f"(plots/{pngs[0].name})" in md
    from reports.curves import read_curves
    c = read_curves(tmp_path, [t["trial_id"] for t in trials])
    assert len(c) == 3 * len(trials) and c["dict_purity"].notna().sum() == 3 * sum(t["method"] == "fsr" for t in trials)
