"""Tables in the paper's layout, built from the tidy aggregate, rendered as Markdown or LaTeX.

A Table is plain data (header, rows of cell strings, which cells are bold, which rows are the
paper's published numbers); ``to_markdown`` / ``to_latex`` render it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from . import paper

DASH = "—"
SUITE_ORDER = ["label_noise", "asym_noise", "long_tail", "mixed", "cost", "pusher", "ablation",
               "reward_size", "sensitivity", "webvision", "meta_layers"]
SUITE_TITLES = {
    "label_noise": "Label noise", "asym_noise": "Asymmetric label noise", "long_tail": "Long tail",
    "mixed": "Mixed long tail and label noise", "cost": "Cost (paper Figure 4)",
    "pusher": "Pusher ablation (paper Figure 5 right)", "reward_size": "Reward set size (paper Figure 7)",
    "ablation": "MixUp and momentum re-labelling (paper Figure 6)",
    "sensitivity": "Hyper-parameter sensitivity (paper Table 4 bottom)",
    "webvision": "WebVision (paper Table 5)",
    "meta_layers": "Meta layers (paper Figure 4 right)",
}
METHOD_ORDER = ["softmax", "cb", "l2r", "mwn", "fsr"]


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bold: set = field(default_factory=set)          # (row index, column index)
    published: set = field(default_factory=set)     # row indices holding published numbers
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.header) + " |",
               "|" + "|".join(["---"] + [":-:"] * (len(self.header) - 1)) + "|"]
        for i, row in enumerate(self.rows):
            cells = []
            for j, c in enumerate(row):
                if (i, j) in self.bold:
                    c = f"**{c}**"
                elif i in self.published and j > 0 and c != DASH:
                    c = f"*{c}*"
                cells.append(c.replace("|", "\\|"))
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [f"{n}  " for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def to_latex(self) -> str:
        cols = "l" + "c" * (len(self.header) - 1)
        out = [r"\begin{table}[ht]", r"\centering", r"\small",
               rf"\caption{{{tex_escape(self.title)}}}", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
               " & ".join(tex_escape(h) for h in self.header) + r" \\", r"\midrule"]
        for i, row in enumerate(self.rows):
            cells = []
            for j, c in enumerate(row):
                c = tex_escape(c)
                if (i, j) in self.bold:
                    c = rf"\textbf{{{c}}}"
                elif i in self.published and j > 0 and c != "--":
                    c = rf"\textit{{{c}}}"
                cells.append(c)
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out.append(r"\par\smallskip\footnotesize " + r" \\ ".join(tex_escape(n) for n in self.notes))
        out += [r"\end{table}", ""]
        return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "—": "--", "×": r"$\times$", "≥": r"$\geq$", "*": r"$^*$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


# --------------------------------------------------------------------------- cell formatting
def fmt_num(x: float, scale: float = 100.0, digits: int = 2) -> str:
    return DASH if x is None or not math.isfinite(x) else f"{x * scale:.{digits}f}"


def fmt_cell(r, metric: str, scale=100.0, digits=2, suffix="") -> str:
    """'mean ± std (n=k)'; '— (n=0, 1 failed)' where every trial failed; failures counted."""
    n, mean, std = int(r[f"{metric}_n"]), r[f"{metric}_mean"], r[f"{metric}_std"]
    failed = int(r["n_failed"])
    dup = str(r.get("dup_seeds", "") or "")
    count = f"n={n}" + (f", {failed} failed" if failed else "") + (f", seed {dup} twice" if dup else "")
    if n == 0:
        return f"{DASH} ({count})"
    text = f"{mean * scale:.{digits}f}{suffix}"
    if n >= 2:
        text += f" ± {std * scale:.{digits}f}"
    return f"{text} ({count})"


def fmt_ci(r, metric: str, scale=100.0, digits=2) -> str:
    lo, hi = r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return DASH
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def fmt_ratio(x: float) -> str:
    return f"{x:g}" if x != int(x) else f"{int(x)}"


def method_rank(label_row) -> tuple:
    m = label_row["method"]
    v = label_row["variant"]
    return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m,
            v not in ("", m), v)   # a method's own row before its variants


def suite_order(suites) -> list[str]:
    known = [s for s in SUITE_ORDER if s in suites]
    return known + sorted(s for s in suites if s not in SUITE_ORDER)


# --------------------------------------------------------------------------- layouts
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


def _noise_family_tables(sub: pd.DataFrame):
    """Split a group into one frame per noise type; clean trials join every family."""
    fams = sorted(set(sub["noise_type"]) - {"none"}) or ["none"]
    for f in fams:
        yield f, sub[sub["noise_type"].isin([f, "none"])]


def _setting(r) -> tuple:
    return (r["noise_type"], float(r["noise_ratio"]), float(r["imbalance_ratio"]))


def grids_for_suite(agg: pd.DataFrame, suite: str) -> list[Grid]:
    sub = agg[agg["suite"] == suite]
    grids = []
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        where = f"{dataset} / {model} / profile {profile}"
        if suite in ("label_noise", "asym_noise"):
            for fam, t in _noise_family_tables(g):
                imbs = sorted(set(t["imbalance_ratio"]))
                grids.append(_grid(t, f"{where} / {fam} noise" + ("" if imbs == [1.0] else " (with long tail)"),
                                   "method \\ noise ratio", row_extra=None,
                                   col=lambda r: (float(r["imbalance_ratio"]), float(r["noise_ratio"])),
                                   col_name=lambda k: fmt_ratio(k[1]) if imbs == [1.0] else
                                   f"{fmt_ratio(k[1])} @ imb {fmt_ratio(k[0])}",
                                   profile=profile, dataset=dataset, model=model))
        elif suite == "long_tail":
            for fam, t in _noise_family_tables(g):
                title = where + ("" if fam == "none" else f" / with {fam} noise")
                grids.append(_grid(t, title, "method \\ imbalance", row_extra=None,
                                   col=lambda r: (-float(r["imbalance_ratio"]), float(r["noise_ratio"])),
                                   col_name=lambda k: fmt_ratio(-k[0]) if fam == "none" else
                                   f"{fmt_ratio(-k[0])} @ noise {fmt_ratio(k[1])}",
                                   profile=profile, dataset=dataset, model=model))
        elif suite == "mixed":
            for fam, t in _noise_family_tables(g):
                grids.append(_grid(t, f"{where} / {fam} noise", "method, noise \\ imbalance",
                                   row_extra=lambda r: float(r["noise_ratio"]),
                                   col=lambda r: float(r["imbalance_ratio"]),
                                   col_name=lambda k: fmt_ratio(k),
                                   profile=profile, dataset=dataset, model=model))
        elif suite == "reward_size":
            for corr, t in g.groupby("corruption", sort=True):
                grids.append(_grid(t, f"{where} / {corr}", "method \\ reward set size", row_extra=None,
                                   col=lambda r: (r["reward_size"] == "?", int(r["reward_size"]) if r["reward_size"] not in ("", "?") else 0),
                                   col_name=lambda k: "?" if k[0] else str(k[1]),
                                   profile=profile, dataset=dataset, model=model))
        else:
            names = {}
            for _, r in g.iterrows():
                names[(float(r["imbalance_ratio"]), r["noise_type"], float(r["noise_ratio"]))] = r["corruption"]
            grids.append(_grid(g, where, "method \\ corruption", row_extra=None,
                               col=lambda r: (float(r["imbalance_ratio"]), r["noise_type"], float(r["noise_ratio"])),
                               col_name=lambda k: names[k], profile=profile, dataset=dataset, model=model))
    return grids


def _grid(t, title, row_header, row_extra, col, col_name, profile, dataset, model) -> Grid:
    cells, rank = {}, {}
    for _, r in t.iterrows():
        extra = row_extra(r) if row_extra else None
        rk = (r["label"], extra)
        ck = col(r)
        cells[(rk, ck)] = r
        rank[rk] = (method_rank(r), r["label"], -1 if extra is None else extra)
    rows = sorted(rank, key=lambda k: rank[k])
    cols = sorted({ck for _, ck in cells})
    row_names = {rk: rk[0] if rk[1] is None else f"{rk[0]}, noise {fmt_ratio(rk[1])}" for rk in rows}
    return Grid(title, row_header, cells, rows, cols, {c: col_name(c) for c in cols}, row_names,
                profile, dataset, model)


def _published_rows(grid: Grid, metric: str = "test_acc"):
    """[(insert after row index, name, {col: value})] for profile == 'paper' grids."""
    if grid.profile != "paper":
        return []
    pms = {}
    for rk in grid.rows:
        r = next(grid.cells[(rk, c)] for c in grid.cols if (rk, c) in grid.cells)
        pms[rk] = paper.paper_method(r["method"], r["variant"], r["suite"])
    out = []
    for pm, extra in sorted({(pm, rk[1]) for rk, pm in pms.items() if pm},
                            key=lambda k: (k[1] is not None, k[1] or 0, k[0])):
        values, unknown_net = {}, False
        for c in grid.cols:
            cell = next((grid.cells[(k, c)] for k in grid.rows if k[1] == extra and (k, c) in grid.cells), None)
            if cell is None:
                continue
            sources = ACC_SOURCES | ({"ablation"} if cell["suite"] == "ablation" else set())
            p = paper.lookup(grid.dataset, grid.model, *_setting(cell), pm, metric, sources=sources)
            if p is not None:
                values[c] = p.value
                unknown_net |= p.model is None
        if not values:
            continue
        last = max(i for i, rk in enumerate(grid.rows) if pms[rk] == pm and rk[1] == extra)
        name = f"{pm} (published{', network not stated' if unknown_net else ''})"
        if extra is not None:
            name += f", noise {fmt_ratio(extra)}"
        out.append((last, name, values))
    return out


ACC_SOURCES = {"uniform noise table", "asymmetric noise table", "long-tail table", "mixed table", "webvision table"}


def accuracy_table(grid: Grid, metric="test_acc", ci=False, title_prefix="Test accuracy (%)") -> Table:
    header = [grid.row_header] + [grid.col_names[c] for c in grid.cols]
    tab = Table(f"{title_prefix}{' — 95% CI of the mean' if ci else ''}: {grid.title}", header)
    pubs = [] if ci else _published_rows(grid, metric)
    best = {}
    if not ci:
        for c in grid.cols:
            means = [round(grid.cells[(rk, c)][f"{metric}_mean"] * 100, 2) for rk in grid.rows
                     if (rk, c) in grid.cells and grid.cells[(rk, c)][f"{metric}_n"] > 0]
            if means:
                best[c] = max(means)
    for i, rk in enumerate(grid.rows):
        row = [grid.row_names[rk]]
        for j, c in enumerate(grid.cols, start=1):
            r = grid.cells.get((rk, c))
            if r is None:
                row.append(DASH)
                continue
            row.append(fmt_ci(r, metric) if ci else fmt_cell(r, metric))
            if not ci and r[f"{metric}_n"] > 0 and round(r[f"{metric}_mean"] * 100, 2) == best.get(c):
                tab.bold.add((len(tab.rows), j))
        tab.rows.append(row)
        for after, name, values in pubs:
            if after == i:
                tab.published.add(len(tab.rows))
                tab.rows.append([name] + [f"{values[c]:.2f}" if c in values else DASH for c in grid.cols])
    if not ci:
        tab.notes.append("Cells: mean ± std over seeds (n = seeds that finished; failures counted). "
                         "Bold: best mean per column among our rows. " + DASH + ": no trial."
                         + (" Italic rows: the paper's published numbers." if tab.published else ""))
        regime = regime_note(grid) if metric == "test_acc" else None
        if regime:
            tab.notes.append(regime)
        ns = [int(r[f"{metric}_n"]) for r in grid.cells.values()]
        if ns and min(ns) < max(ns):
            short = [f"{grid.row_names[rk]} @ {grid.col_names[c]} (n={int(r[f'{metric}_n'])})"
                     for (rk, c), r in sorted(grid.cells.items(), key=lambda kv: (grid.rows.index(kv[0][0]), grid.cols.index(kv[0][1])))
                     if int(r[f"{metric}_n"]) < max(ns)]
            tab.notes.append(f"Cells with fewer than {max(ns)} seeds: " + "; ".join(short) + ".")
    return tab


def regime_note(grid: Grid) -> str | None:
    """Which regime the run was in, per column: plain softmax's best minus its final test accuracy.
    Large: softmax memorises the noisy labels late in training (room for re-weighting to help);
    near 0: it does not, and a method can only win by what it learns, not by what it avoids."""
    parts = []
    for rk in grid.rows:
        if rk[0] != "softmax":
            continue
        for c in grid.cols:
            r = grid.cells.get((rk, c))
            if r is not None and r["best_acc_n"] > 0 and r["test_acc_n"] > 0:
                where = grid.col_names[c] + ("" if rk[1] is None else f" (noise {fmt_ratio(rk[1])})")
                parts.append(f"{where}: {(r['best_acc_mean'] - r['test_acc_mean']) * 100:.2f}")
    if not parts:
        return None
    return ("Regime, softmax's best minus final test accuracy in points (large: it memorises the noisy "
            "labels): " + ", ".join(parts) + ".")


def diagnostics_table(agg: pd.DataFrame, suite: str) -> list[Table]:
    """Dictionary purity and zero-weight ratio against the realised noise (rows: method x corruption)."""
    sub = agg[(agg["suite"] == suite) & ((agg["dict_purity_n"] > 0) | (agg["zero_weight_ratio_n"] > 0)
                                         | (agg["weight_auroc_n"] > 0))]
    tables = []
    metrics = [("realized_noise", "realised noise"), ("test_acc", "test acc"),
               ("dict_purity", "dict purity"), ("zero_weight_ratio", "zero-weight ratio"),
               ("weight_purity", "weight purity"), ("weight_auroc", "weight AUROC")]
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        metrics_here = [(m, n) for m, n in metrics if (g[f"{m}_n"] > 0).any()]
        tab = Table(f"Re-weighting diagnostics (%): {dataset} / {model} / profile {profile}",
                    ["method", "corruption"] + [n for _, n in metrics_here])
        g = g.assign(_rank=[method_rank(r) for _, r in g.iterrows()]).sort_values(
            ["_rank", "label", "imbalance_ratio", "noise_type", "noise_ratio", "reward_size"])
        for _, r in g.iterrows():
            corr = r["corruption"] + (f" (reward set {r['reward_size']})" if r["reward_size"] else "")
            tab.rows.append([r["label"], corr] + [fmt_cell(r, m) for m, _ in metrics_here])
            if profile == "paper":
                pm = paper.paper_method(r["method"], r["variant"], suite)
                pubs = {m: paper.lookup(dataset, model, *_setting(r), pm, m, sources={"ablation"})
                        for m, _ in metrics_here} if pm else {}
                if any(pubs.values()):
                    tab.published.add(len(tab.rows))
                    tab.rows.append([f"{pm} (published, ablation)", r["corruption"]]
                                    + [f"{p.value:.2f}" if p else DASH for p in pubs.values()])
        tab.notes.append("The paper expects the zero-weight ratio near the realised noise rate. "
                         "Cells: mean ± std (n)." + (" Italic rows: the paper's published numbers "
                                                     "(its ablation; network not stated in our notes)."
                                                     if tab.published else ""))
        tables.append(tab)
    return tables


def shots_table(agg: pd.DataFrame, suite: str) -> list[Table]:
    """Long tail: many (> 100) / medium (20-100) / few (< 20) shot accuracy, rows method x imbalance."""
    sub = agg[(agg["suite"] == suite) & ((agg["many_acc_n"] > 0) | (agg["few_acc_n"] > 0))]
    tables = []
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        tab = Table(f"Accuracy by class frequency (%): {dataset} / {model} / profile {profile}",
                    ["method", "corruption", "many-shot", "medium-shot", "few-shot", "overall"])
        g = g.assign(_rank=[method_rank(r) for _, r in g.iterrows()]).sort_values(
            ["_rank", "label", "imbalance_ratio", "noise_type", "noise_ratio"], ascending=[True, True, False, True, True])
        for _, r in g.iterrows():
            tab.rows.append([r["label"], r["corruption"]] + [fmt_cell(r, m) for m in
                                                              ("many_acc", "medium_acc", "few_acc", "test_acc")])
        tab.notes.append("Many: > 100 training samples per class, medium: 20-100, few: < 20.")
        tables.append(tab)
    return tables


def cost_tables(agg: pd.DataFrame, suite: str) -> list[Table]:
    """Paper Figure 4: step time and peak memory as ratios to softmax, one column pair per model;
    then the absolute numbers."""
    sub = agg[(agg["suite"] == suite) & ((agg["step_time_s_n"] > 0) | (agg["n_failed"] > 0))]
    tables = []
    for (profile, dataset), g in sub.groupby(["profile", "dataset"], sort=True):
        models = sorted(set(g["model"]))
        keyed = {}
        for _, r in g.iterrows():
            keyed.setdefault((r["label"], r["corruption"]), {})[r["model"]] = r
        order = sorted(keyed, key=lambda k: (method_rank(next(iter(keyed[k].values()))), k))
        multi_corr = len({k[1] for k in keyed}) > 1
        pub = profile == "paper"
        ratio = Table(f"Cost relative to softmax (×): {dataset} / profile {profile}",
                      ["method"] + [f"{m} {w}" for m in models for w in ("time", "memory")]
                      + (["published (Fig. 4)"] if pub else []))
        absolute = Table(f"Cost, absolute: {dataset} / profile {profile}",
                         ["method"] + [f"{m} {w}" for m in models for w in ("step ms", "peak MB")])
        for k in order:
            name = k[0] + (f" ({k[1]})" if multi_corr else "")
            rr, ra = [name], [name]
            for m in models:
                r = keyed[k].get(m)
                if r is None:
                    rr += [DASH, DASH]
                    ra += [DASH, DASH]
                    continue
                rr += [fmt_cell(r, "step_time_ratio", 1, 2, "×"), fmt_cell(r, "peak_mem_ratio", 1, 2, "×")]
                ra += [fmt_cell(r, "step_time_s", 1000, 1), fmt_cell(r, "peak_mem_mb", 1, 0)]
            if pub:
                r0 = next(iter(keyed[k].values()))
                pm = paper.paper_method(r0["method"], r0["variant"], suite)
                pc = paper.PUBLISHED_COST.get(pm)
                rr.append(f"time +{fmt_ratio(pc['step_time'][0])}% to +{fmt_ratio(pc['step_time'][1])}%, "
                          f"memory +{fmt_ratio(pc['peak_mem'][0])}% to +{fmt_ratio(pc['peak_mem'][1])}%"
                          if pc else DASH)
            ratio.rows.append(rr)
            absolute.rows.append(ra)
        devices = sorted({d for ds in g["devices"] for d in str(ds).split(";") if d})
        ratio.notes.append("Ratios: each trial's median step time / peak memory over the mean of the "
                           "softmax trials of the same suite, profile, data set and model. "
                           "Cells: mean ± std (n).")
        if devices:
            absolute.notes.append("Devices: " + ", ".join(devices) + ".")
        tables += [ratio, absolute]
    return tables
