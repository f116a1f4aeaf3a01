"""The "tuned" table kind: each method at its default settings beside the same method tuned
with one budget (bench tune), by the noisy validation split and by the clean test set (the
oracle, for reference only), with each search's cost; and whether the methods' ranking by
mean test accuracy changes after tuning. A tuned row is the variant ``LABEL@RULE`` of the
row ``LABEL``; a suite without tuned rows gets no table."""
from __future__ import annotations

import pandas as pd

from . import kinds
from .layouts import SuiteReport
from .render import DASH, Table, fmt_cell

RULES = ("noisy-val", "oracle")
HEADER = ["method", "corruption", "default", "tuned (noisy-val)", "tuned (oracle)",
          "cost noisy-val (trial-epochs)", "cost oracle (trial-epochs)"]


def _cost(r) -> str:
    return DASH if r is None or not r["tune_cost_epochs_n"] else f"{r['tune_cost_epochs_mean']:.0f}"


def ranking(accs: dict) -> list[str]:
    """Labels by mean accuracy, best first (the label breaks a tie); a label without one is left out."""
    return [k for k, v in sorted(accs.items(), key=lambda kv: (-kv[1], kv[0])) if v == v]


def ranking_note(corruption: str, cols: dict) -> str:
    """One line: the ranking at the default settings and after each rule's tuning, changed or not."""
    default = ranking(cols["default"])
    parts = [f"{corruption}: default {' > '.join(default) or DASH}"]
    for rule in RULES:
        tuned = ranking(cols[rule])
        if tuned:
            same = "unchanged" if tuned == [k for k in default if k in tuned] else "CHANGED"
            parts.append(f"tuned ({rule}{', reference only' if rule == 'oracle' else ''}) {' > '.join(tuned)}: {same}")
    return "Ranking " + "; ".join(parts) + "."


@kinds.table("tuned")
def tuned_tables(agg: pd.DataFrame, suite: str, report: SuiteReport) -> list[Table]:
    sub = agg[agg["suite"] == suite]
    name = sub["variant"].fillna("").astype(str)
    name = name.where(name != "", sub["method"])   # not the label: unlike configurations get a suffix there
    tuned = name.str.rpartition("@")
    sub = sub.assign(base=tuned[0].where(tuned[1] == "@", name), rule=tuned[2].where(tuned[1] == "@", ""))
    out = []
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        bases = sorted(set(g.loc[g["rule"] != "", "base"]))
        if not bases:
            continue
        tab = Table(f"Default vs tuned test accuracy (%): {dataset} / {model} / profile {profile}", list(HEADER))
        notes = []
        for corruption, c in g.groupby("corruption", sort=False):
            cell = {(r["base"], r["rule"]): r for _, r in c.iterrows()}
            cols = {k: {} for k in ("default", *RULES)}
            for base in bases:
                rows = [cell.get((base, rule)) for rule in ("", *RULES)]
                if all(r is None for r in rows[1:]):
                    continue
                tab.rows.append([base, corruption] + [DASH if r is None else fmt_cell(r, "test_acc") for r in rows]
                                + [_cost(r) for r in rows[1:]])
                for key, r in zip(cols, rows):
                    if r is not None and r["test_acc_n"]:
                        cols[key][base] = r["test_acc_mean"]
            notes.append(ranking_note(corruption, cols))
        tab.notes = notes + ["Tuned: the same search budget for every method (bench tune); noisy-val picks by a "
                             "held-out split with its noisy labels; oracle picks by the clean test set and is "
                             "shown for reference only. Cost: epochs run by the search's trials. Cells: mean ± std (n)."]
        out.append(tab)
    return out
