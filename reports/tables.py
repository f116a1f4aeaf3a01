"""The report's tables, built from the tidy aggregate by the suites' declarations
(reports.layouts.SuiteReport) and the metric registry (reports.metrics); nothing here knows a
suite or a method by name, beside the plain softmax baseline of the regime note."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import kinds, metrics, paper, protocols
from .layouts import COLUMNS, SuiteReport
from .render import DASH, Table, fmt_cell, fmt_ci, fmt_ratio
from .stats import is_baseline


def row_rank(report: SuiteReport, r) -> tuple:
    """Rows in the suite's declared order; undeclared ones after, by method, its own row first."""
    base = r["variant"] or r["method"]
    if base in report.rows:
        return (0, report.rows.index(base), "", False, "")
    return (1, 0, r["method"], base != r["method"], base)


def _ranked(g: pd.DataFrame, report: SuiteReport, *by, ascending=True) -> pd.DataFrame:
    g = g.assign(_rank=[row_rank(report, r) for _, r in g.iterrows()])
    asc = [True, True] + (list(ascending) if isinstance(ascending, list) else [ascending] * len(by))
    return g.sort_values(["_rank", "label", *by], ascending=asc)


@dataclass
class Grid:
    """One table's worth of cells: agg rows keyed by (row key, column key)."""
    title: str
    row_header: str
    cells: dict                 # (row_key, col_key) -> agg row
    rows: list                  # ordered row keys: (label, extra)
    cols: list                  # ordered column keys
    col_names: dict
    row_names: dict
    profile: str
    dataset: str
    model: str
    report: SuiteReport


def _setting(r) -> tuple:
    return (r["noise_type"], float(r["noise_ratio"]), float(r["imbalance_ratio"]))


def grids_for_suite(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Grid]:
    """The suite's grid tables, cut as its declaration's ``columns`` says."""
    layout = COLUMNS[report.columns]
    grids = []
    for (profile, dataset, model), g in agg[agg["suite"] == suite].groupby(["profile", "dataset", "model"], sort=True):
        for part in layout.parts(g):
            cells, rank, names = {}, {}, {}
            for _, r in part.frame.iterrows():
                extra = layout.row_extra(r) if layout.row_extra else None
                rk, ck = (r["label"], extra), layout.key(r)
                cells[(rk, ck)] = r
                rank[rk] = (row_rank(report, r), r["label"], -1 if extra is None else extra)
                names.setdefault(ck, layout.name(r, part))
            rows = sorted(rank, key=lambda k: rank[k])
            cols = sorted(names)
            row_names = {rk: rk[0] if rk[1] is None else f"{rk[0]}, noise {fmt_ratio(rk[1])}" for rk in rows}
            grids.append(Grid(f"{dataset} / {model} / profile {profile}{layout.title(part)}", layout.row_header,
                              cells, rows, cols, names, row_names, profile, dataset, model, report))
    return grids


@dataclass
class PublishedRow:
    after: int          # inserted after our row of this index
    name: str           # the row's label: the paper's row, its network and how its protocol stands to ours
    values: dict        # column key -> published value
    note: str           # its protocol in full: network, schedule, source; ours; our best epoch where it reports one


def _first_cell(grid: Grid, rk):
    return next(grid.cells[(rk, c)] for c in grid.cols if (rk, c) in grid.cells)


def _closest(grid: Grid, mine: list[int], proto) -> tuple[int, str, dict | None]:
    """Of our rows ``mine`` (indices) that share the published row, the one whose protocol is
    nearest (fewest differences; the last of equals): its index, label and settings."""
    scored = []
    for i in mine:
        r = _first_cell(grid, grid.rows[i])
        ours = grid.report.protocol(r)
        scored.append((len(protocols.differences(proto, grid.model, ours)), -i, r["variant"] or r["method"], ours))
    _, neg_i, label, ours = min(scored, key=lambda s: s[:2])
    return -neg_i, label, ours


def _published_rows(grid: Grid, metric: str) -> list[PublishedRow]:
    """The published rows of a grid of the suite's published profile (SuiteReport.beside_paper):
    per paper row (and row extra), one row per protocol among its columns, after our row nearest
    that protocol."""
    if not grid.report.beside_paper(grid.profile) or not grid.report.paper_tables:
        return []
    pms = {rk: grid.report.paper_row(_first_cell(grid, rk)) for rk in grid.rows}
    out = []
    for pm, extra in sorted({(pm, rk[1]) for rk, pm in pms.items() if pm},
                            key=lambda k: (k[1] is not None, k[1] or 0, k[0])):
        by_protocol: dict = {}
        for c in grid.cols:
            cell = next((grid.cells[(k, c)] for k in grid.rows if k[1] == extra and (k, c) in grid.cells), None)
            p = cell is not None and paper.lookup(grid.dataset, grid.model, *_setting(cell), pm, metric,
                                                  sources=set(grid.report.paper_tables), corruption=cell["corruption"])
            if p:
                by_protocol.setdefault(p.protocol, {})[c] = p.value
        mine = [i for i, rk in enumerate(grid.rows) if pms[rk] == pm and rk[1] == extra]
        for proto, values in by_protocol.items():
            out.append(_published_row(grid, pm, extra, proto, values, mine))
    return out


def _published_row(grid: Grid, pm: str, extra, proto, values: dict, mine: list[int]) -> PublishedRow:
    at, label, ours = _closest(grid, mine, proto)
    best = ", best epoch" if proto.reported == "best epoch" else ""
    noise = "" if extra is None else f", noise {fmt_ratio(extra)}"
    name = f"{pm} (published, {proto.network}{best}; {protocols.status(proto, grid.model, label, ours)}){noise}"
    note = (f"{pm} (published{noise}): network {proto.network}; {proto.schedule}; accuracy reported: {proto.reported}; "
            f"source: {proto.source}. Ours ({label}): {protocols.describe(grid.model, ours)}.")
    missing = protocols.not_compared(proto)
    if missing and proto.settings is not None:
        note += f" Not compared (not stated or not verified): {', '.join(missing)}."
    if proto.reported == "best epoch":
        rk = grid.rows[at]
        ours_best = [f"{grid.col_names[c]}: {grid.cells[(rk, c)]['best_acc_mean'] * 100:.2f}" for c in grid.cols
                     if (rk, c) in grid.cells and grid.cells[(rk, c)]["best_acc_n"] > 0]
        note += f" Our best epoch's accuracy ({label}, best_acc): {', '.join(ours_best) or DASH}."
    return PublishedRow(at, name, values, note)


def accuracy_table(grid: Grid, metric="test_acc", ci=False) -> Table:
    m = metrics.get(metric)
    header = [grid.row_header] + [grid.col_names[c] for c in grid.cols]
    tab = Table(f"{m.grid_title}{' — 95% CI of the mean' if ci else ''}: {grid.title}", header)
    pubs = [] if ci else _published_rows(grid, metric)
    best = {}
    for c in grid.cols:
        means = [round(grid.cells[(rk, c)][f"{metric}_mean"] * 100, 2) for rk in grid.rows
                 if (rk, c) in grid.cells and grid.cells[(rk, c)][f"{metric}_n"] > 0]
        if means and not ci:
            best[c] = max(means)
    for i, rk in enumerate(grid.rows):
        row = [grid.row_names[rk]]
        for j, c in enumerate(grid.cols, start=1):
            r = grid.cells.get((rk, c))
            row.append(DASH if r is None else fmt_ci(r, metric) if ci else fmt_cell(r, metric))
            if r is not None and not ci and r[f"{metric}_n"] > 0 and round(r[f"{metric}_mean"] * 100, 2) == best.get(c):
                tab.bold.add((len(tab.rows), j))
        tab.rows.append(row)
        for p in pubs:
            if p.after == i:
                tab.published.add(len(tab.rows))
                tab.rows.append([p.name] + [f"{p.values[c]:.2f}" if c in p.values else DASH for c in grid.cols])
    if not ci:
        tab.notes += _notes(grid, metric, tab) + [p.note for p in sorted(pubs, key=lambda p: p.after)]
    return tab


def _notes(grid: Grid, metric: str, tab: Table) -> list[str]:
    notes = ["Cells: mean ± std over seeds (n = seeds that finished; failures counted). "
             "Bold: best mean per column among our rows. " + DASH + ": no trial."
             + (" Italic rows: published numbers, each with its network and how its protocol stands to our "
                "nearest row's (in full below)." if tab.published else "")]
    regime = regime_note(grid) if metric == "test_acc" else None
    if regime:
        notes.append(regime)
    ns = [int(r[f"{metric}_n"]) for r in grid.cells.values()]
    if ns and min(ns) < max(ns):
        order = lambda kv: (grid.rows.index(kv[0][0]), grid.cols.index(kv[0][1]))
        short = [f"{grid.row_names[rk]} @ {grid.col_names[c]} (n={int(r[f'{metric}_n'])})"
                 for (rk, c), r in sorted(grid.cells.items(), key=order) if int(r[f"{metric}_n"]) < max(ns)]
        notes.append(f"Cells with fewer than {max(ns)} seeds: " + "; ".join(short) + ".")
    return notes


def regime_note(grid: Grid) -> str | None:
    """Which regime the run was in, per column: plain softmax's best minus its final test accuracy.
    Large: softmax memorises the noisy labels late in training (room for re-weighting to help);
    near 0: it does not, and a method can only win by what it learns, not by what it avoids."""
    parts = []
    for rk in grid.rows:
        for c in grid.cols:
            r = grid.cells.get((rk, c))
            if r is not None and is_baseline(r) and r["best_acc_n"] > 0 and r["test_acc_n"] > 0:
                where = grid.col_names[c] + ("" if rk[1] is None else f" (noise {fmt_ratio(rk[1])})")
                parts.append(f"{where}: {(r['best_acc_mean'] - r['test_acc_mean']) * 100:.2f}")
    if not parts:
        return None
    return ("Regime, softmax's best minus final test accuracy in points (large: it memorises the noisy "
            "labels): " + ", ".join(parts) + ".")


@kinds.table("grid")
def grid_tables(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Table]:
    """The first grid metric's tables (test accuracy) and their 95% CIs, then every other grid
    metric's tables where the suite has it."""
    grids = grids_for_suite(agg, suite, report)
    first, *others = metrics.in_table("grid")
    out = [accuracy_table(g, first.name) for g in grids] + [accuracy_table(g, first.name, ci=True) for g in grids]
    for m in others:
        out += [accuracy_table(g, m.name) for g in grids if any(r[f"{m.name}_n"] > 0 for r in g.cells.values())]
    return out


def _per_group(agg, suite, report, kind, context, title, note, by, ascending=True, every_column=False) -> list[Table]:
    """One table per (profile, data set, network): rows method x corruption where a metric of
    table ``kind`` exists; columns the ``context`` metrics ((before, after): (name, header)
    pairs) around the metrics of ``kind``, each only where it has a value unless ``every_column``."""
    shown = metrics.in_table(kind)
    before, after = ([(metrics.get(n), h) for n, h in side] for side in context)
    cols = before + [(m, m.label) for m in shown] + after
    sub = agg[agg["suite"] == suite]
    sub = sub[pd.concat([sub[f"{m.name}_n"] > 0 for m in shown], axis=1).any(axis=1)] if shown else sub.iloc[:0]
    tables = []
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        here = [(m, h) for m, h in cols if every_column or (g[f"{m.name}_n"] > 0).any()]
        tab = Table(f"{title}: {dataset} / {model} / profile {profile}", ["method", "corruption"] + [h for _, h in here])
        for _, r in _ranked(g, report, *by, ascending=ascending).iterrows():
            corr = r["corruption"] + (f" (reward set {r['reward_size']})" if kind == "diagnostics" and r["reward_size"] else "")
            tab.rows.append([r["label"], corr] + [fmt_cell(r, m.name) for m, _ in here])
            if kind == "diagnostics" and report.beside_paper(profile):
                _published_diagnostics(tab, r, report, [m for m, _ in here], dataset, model)
        tab.notes.append(note + (" Italic rows: the paper's published numbers (its ablation; network not "
                                 "stated in the paper, protocol not verified)." if tab.published else ""))
        tables.append(tab)
    return tables


def _published_diagnostics(tab: Table, r, report: SuiteReport, here, dataset, model) -> None:
    pm = report.paper_row(r)
    pubs = [paper.lookup(dataset, model, *_setting(r), pm, m.name, sources={"ablation"}) for m in here] if pm else []
    if any(pubs):
        proto = next(p for p in pubs if p).protocol
        tab.published.add(len(tab.rows))
        tab.rows.append([f"{pm} (published, ablation, network {proto.network}; "
                         f"{protocols.status(proto, model, r['variant'] or r['method'], report.protocol(r))})",
                         r["corruption"]]
                        + [f"{p.value:.2f}" if p else DASH for p in pubs])


@kinds.table("diagnostics")
def diagnostics_table(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Table]:
    """The re-weighting diagnostics (reports.metrics, table "diagnostics") beside the realised noise."""
    return _per_group(agg, suite, report, "diagnostics", ([("realized_noise", "realised noise"), ("test_acc", "test acc")], []),
                      "Re-weighting diagnostics (%)",
                      "The paper expects the zero-weight ratio near the realised noise rate. Cells: mean ± std (n).",
                      ["imbalance_ratio", "noise_type", "noise_ratio", "reward_size"])


@kinds.table("shots")
def shots_table(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Table]:
    """Long tail: accuracy by class frequency (table "shots"), then overall."""
    return _per_group(agg, suite, report, "shots", ([], [("test_acc", "overall")]), "Accuracy by class frequency (%)",
                      "Many: > 100 training samples per class, medium: 20-100, few: < 20.",
                      ["imbalance_ratio", "noise_type", "noise_ratio"], ascending=[False, True, True], every_column=True)
