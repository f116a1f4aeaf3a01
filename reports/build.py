"""build_report: DIR/results.csv -> DIR/report/{report.md, report.tex, summary.csv, plots/*.png}."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import costs, tables, tuning  # noqa: F401  (the table builders: each registers its kinds, reports.kinds)
from . import kinds, stats
from . import plots as _plots
from .layouts import SuiteReport, generic
from .render import DASH, Table, tex_escape
from .schema import StoreError, exists_as
from .store import ReportError, load_results

FORMATS = ("md", "tex", "csv")


def prepare(out_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, tidy aggregate) for the store in out_dir."""
    df = load_results(out_dir)
    df = stats.add_reward_size(stats.add_cost_ratios(df))
    return df, stats.aggregate(df)


def declarations(agg: pd.DataFrame, suites: dict | None) -> dict[str, SuiteReport]:
    """Each suite present, in the declarations' order (then the undeclared ones, by name, each
    with the generic report)."""
    suites = suites or {}
    present = set(agg["suite"])
    return {**{s: r for s, r in suites.items() if s in present},
            **{s: generic(s) for s in sorted(present - set(suites))}}


def _sections(df: pd.DataFrame, agg: pd.DataFrame, plot_paths: dict, suites: dict):
    """[(section title, [Table | str], [(caption, relative png path)])] per suite present."""
    out = []
    for suite, report in suites.items():
        t = df[df["suite"] == suite]
        n_ok, n_failed = int((t["status"] == "ok").sum()), int((t["status"] != "ok").sum())
        items: list = [f"Trials: {n_ok} ok, {n_failed} failed."]
        for kind in report.tables:
            items += kinds.TABLES[kind].build(agg, suite, report)
        figs = [(kinds.PLOTS[kind].title, p) for kind in report.plots for p in plot_paths.get(kind, {}).get(suite, [])]
        out.append((report.title, items, figs))
    diag = [(kinds.PLOTS[k].title, p) for k in kinds.across_plots() for p in plot_paths.get(k, {}).get(None, [])]
    if diag:
        out.append(("Re-weighting diagnostics across suites", [], diag))
    return out


def _failed_table(df: pd.DataFrame) -> Table | None:
    f = df[df["status"] != "ok"].sort_values(["suite", "profile", "dataset", "model", "label", "corruption", "seed", "trial_id"])
    if f.empty:
        return None
    tab = Table("Failed trials (the last row of each trial id)",
                ["trial", "suite", "dataset / model", "method", "corruption", "seed", "reason"])
    for _, r in f.iterrows():
        seed = DASH if pd.isna(r["seed"]) else str(int(r["seed"]))
        tab.rows.append([r["trial_id"], f"{r['suite']} ({r['profile']})", f"{r['dataset']} / {r['model']}",
                         r["label"], r["corruption"], seed, r["error"] or "no reason recorded"])
    return tab


def _counts_line(df: pd.DataFrame) -> str:
    n_ok, n_failed = int((df["status"] == "ok").sum()), int((df["status"] != "ok").sum())
    superseded = df.attrs.get("rows_read", len(df)) - len(df)
    line = f"Trials: {n_ok} ok, {n_failed} failed ({len(df)} trial ids"
    if superseded:
        line += f"; {superseded} earlier row{'s' if superseded != 1 else ''} of retried trials superseded by the last"
    return line + ")."


def _markdown(df, agg, sections, failed) -> str:
    lines = ["# reweight-bench report", "",
             "Source: `results.csv` (the results store). Accuracies in %; cells are mean ± std over "
             "seeds with the number of finished seeds; 95% CIs of the mean are Student's t intervals for "
             f"n <= {stats.T_INTERVAL_MAX_N} and percentile bootstraps above ({stats.N_RESAMPLES} resamples, "
             f"seed {stats.BOOTSTRAP_SEED}); none for n < 2. Rows pool only trials of one configuration "
             "(all but the seed), device type and code version; where one name ran several, each "
             "carries its signature in brackets. "
             "Where the profile is `paper` and the data set, network and corruption match the paper, "
             "its published number is shown in an italic row marked *published*.", "",
             _counts_line(df), ""]
    for title, items, figs in sections:
        lines += [f"## {title}", ""]
        for it in items:
            lines += [it.to_markdown().rstrip() if isinstance(it, Table) else it, ""]
        for caption, path in figs:
            lines += [f"![{caption}]({path})", ""]
    lines += ["## Failed trials", ""]
    lines += [failed.to_markdown().rstrip() if failed else "None.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _latex(df, agg, sections, failed) -> str:
    esc = tex_escape
    lines = [r"\documentclass{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{booktabs}",
             r"\usepackage{graphicx}", r"\usepackage[T1]{fontenc}", r"\begin{document}",
             r"\section*{reweight-bench report}", esc(_counts_line(df)), ""]
    for title, items, figs in sections:
        lines += [rf"\section*{{{esc(title)}}}", ""]
        for it in items:
            if isinstance(it, Table):
                t = Table(it.title, it.header, it.rows, it.bold, it.published, it.notes)
                lines.append(t.to_latex().replace(r"\begin{tabular}", r"\resizebox{\linewidth}{!}{\begin{tabular}")
                             .replace(r"\end{tabular}", r"\end{tabular}}"))
            else:
                lines += [esc(it), ""]
        for caption, path in figs:
            lines += [r"\begin{figure}[ht]\centering", rf"\includegraphics[width=0.8\linewidth]{{{path}}}",
                      rf"\caption{{{esc(caption)}}}\end{{figure}}", ""]
    lines += [r"\section*{Failed trials}", ""]
    if failed:
        lines.append(failed.to_latex().replace(r"\begin{tabular}", r"\resizebox{\linewidth}{!}{\begin{tabular}")
                     .replace(r"\end{tabular}", r"\end{tabular}}"))
    else:
        lines.append("None.")
    lines += [r"\end{document}", ""]
    return "\n".join(lines)


def build_report(out_dir, formats=("md",), plots: bool = True, suites: dict | None = None) -> Path:
    """Write DIR/report/ from DIR/results.csv; returns the path of report.md.

    suites: {suite name: reports.layouts.SuiteReport}, the suites' declarations (bench.sweep.suites
    hands in its own, ``bench.sweep.suites.report_declarations()``); a suite in the store without one gets the
    generic report (one column per corruption), after the declared ones.

    formats: any of "md" (always written), "tex" (report.tex, booktabs) and "csv" (summary.csv,
    the tidy aggregate: one row per suite/profile/dataset/model/method/variant/corruption with
    n, mean, std, ci_low, ci_high of every metric). Raises ReportError (one line) when the store
    is missing or has no rows, a format is unknown, or the report cannot be written there.
    """
    formats = {str(f).strip().lower() for f in (formats or ()) if str(f).strip()}
    unknown = formats - set(FORMATS)
    if unknown:
        raise ReportError(f"unknown report format(s): {', '.join(sorted(unknown))} (choose from md, tex, csv)")
    df, agg = prepare(out_dir)
    folder = Path(out_dir) / "report"
    outputs = {"md": "report.md", "tex": "report.tex", "csv": "summary.csv"}
    _check_outputs(folder, [outputs[f] for f in {"md", *formats}], plots)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        suites = declarations(agg, suites)
        plot_paths = _plots.all_plots(df, agg, folder / "plots", suites, out_dir) if plots else {}
        sections = _sections(df, agg, plot_paths, suites)
        failed = _failed_table(df)
        md = folder / "report.md"
        md.write_text(_markdown(df, agg, sections, failed), encoding="utf-8")
        if "tex" in formats:
            (folder / "report.tex").write_text(_latex(df, agg, sections, failed), encoding="utf-8")
        if "csv" in formats:
            agg.to_csv(folder / "summary.csv", index=False, float_format="%.6g", lineterminator="\n")
    except OSError as e:
        raise ReportError(f"cannot write the report into {folder}: {e.strerror or e}") from None
    return md


def _check_outputs(folder: Path, names: list[str], plots: bool) -> None:
    """DIR/report, its plots folder and the files named are each absent or of their kind (a
    file named report, a directory named report.md are refused before anything is written)."""
    try:
        if exists_as(folder, "directory"):
            for name in names:
                exists_as(folder / name, "file")
            if plots:
                exists_as(folder / "plots", "directory")
    except StoreError as e:
        raise ReportError(str(e)) from None
