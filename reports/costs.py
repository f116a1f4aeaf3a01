"""Paper Figure 4 as tables: per-step time and peak memory as ratios to plain softmax (the
metrics of table "cost_ratio"), one column pair per network, then the absolute numbers
(table "cost_absolute"); in the suite's published profile (SuiteReport.beside_paper), the
paper's published cost beside each row."""
from __future__ import annotations

import pandas as pd

from . import kinds, metrics, paper
from .layouts import SuiteReport
from .render import DASH, Table, fmt_cell, fmt_ratio
from .tables import row_rank


def _published(report: SuiteReport, r) -> str:
    pc = paper.PUBLISHED_COST.get(report.paper_row(r))
    if not pc:
        return DASH
    return (f"time +{fmt_ratio(pc['step_time'][0])}% to +{fmt_ratio(pc['step_time'][1])}%, "
            f"memory +{fmt_ratio(pc['peak_mem'][0])}% to +{fmt_ratio(pc['peak_mem'][1])}%")


@kinds.table("cost", shows=("cost_ratio", "cost_absolute"))
def cost_tables(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Table]:
    ratio_m, abs_m = metrics.in_table("cost_ratio"), metrics.in_table("cost_absolute")
    first = ratio_m[0].name
    sub = agg[(agg["suite"] == suite) & ((agg[f"{first}_n"] > 0) | (agg["n_failed"] > 0))]
    tables = []
    for (profile, dataset), g in sub.groupby(["profile", "dataset"], sort=True):
        models = sorted(set(g["model"]))
        keyed = {}
        for _, r in g.iterrows():
            keyed.setdefault((r["label"], r["corruption"]), {})[r["model"]] = r
        order = sorted(keyed, key=lambda k: (row_rank(report, next(iter(keyed[k].values()))), k))
        multi_corr = len({k[1] for k in keyed}) > 1
        pub = report.beside_paper(profile)
        ratio = Table(f"Cost relative to softmax (×): {dataset} / profile {profile}",
                      ["method"] + [f"{mod} {m.label}" for mod in models for m in ratio_m]
                      + (["published (Fig. 4)"] if pub else []))
        absolute = Table(f"Cost, absolute: {dataset} / profile {profile}",
                         ["method"] + [f"{mod} {m.label}" for mod in models for m in abs_m])
        for k in order:
            name = k[0] + (f" ({k[1]})" if multi_corr else "")
            rr, ra = [name], [name]
            for mod in models:
                r = keyed[k].get(mod)
                rr += [DASH if r is None else fmt_cell(r, m.name) for m in ratio_m]
                ra += [DASH if r is None else fmt_cell(r, m.name) for m in abs_m]
            if pub:
                rr.append(_published(report, next(iter(keyed[k].values()))))
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
