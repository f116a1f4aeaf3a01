"""Per-epoch curves from the trial directories Ray Tune writes (each holds a ``result.json``,
one JSON object per epoch; each row names its directory, which --storage may put outside DIR;
older rows' are found under DIR/ray/): the metrics declared with ``curve=True``
(reports.metrics; test accuracy, FSR's dictionary purity, the zero-weight ratio), mean over
seeds per row of a suite, one figure per data set, network and corruption."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import metrics


def row_dirs(rows: pd.DataFrame) -> dict[str, str]:
    """trial id -> the trial directory its row names (``trial_dir`` in the row's ``extra``; rows
    written before rows named it have none)."""
    out = {}
    for tid, extra in zip(rows["trial_id"], rows["extra"]):
        try:
            d = json.loads(extra).get("trial_dir") if extra else None
        except (ValueError, AttributeError):
            d = None
        if isinstance(d, str) and d:
            out[tid] = d
    return out


def _result_files(out_dir, trial_ids, named: dict) -> dict[str, Path]:
    """trial id -> its result.json: in the directory its row names (anywhere: a --storage
    outside DIR), else (an older row, or a directory since moved) the most recently written one
    under DIR/ray/ (a trial id may have several: a retried or resumed trial)."""
    wanted, found = set(trial_ids), {}
    for tid in wanted & set(named):
        if (Path(named[tid]) / "result.json").is_file():
            found[tid] = Path(named[tid]) / "result.json"
    rest = wanted - set(found)
    for path in Path(out_dir, "ray").glob("*/*/result.json") if rest else []:
        tid = path.parent.name.split("-", 1)[0]
        if tid in rest and (tid not in found or path.stat().st_mtime > found[tid].stat().st_mtime):
            found[tid] = path
    return found


def read_curves(out_dir, trial_ids, named: dict | None = None) -> pd.DataFrame:
    """(trial_id, epoch, curve metrics...) of the given trials, from the directories ``named``
    (trial id -> directory: ``row_dirs``), else from those under DIR/ray/."""
    names = [m.name for m in metrics.METRICS if m.curve]
    rows = []
    for tid, path in _result_files(out_dir, trial_ids, named or {}).items():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue   # a line torn by a kill
            if isinstance(rec, dict) and "epoch" in rec and not rec.get("final"):
                rows.append({"trial_id": tid, "epoch": rec["epoch"], **{n: rec.get(n) for n in names}})
    return pd.DataFrame(rows, columns=["trial_id", "epoch", *names])


def curve_plots(df: pd.DataFrame, curves: pd.DataFrame, folder: Path, suite: str, order, save) -> list[str]:
    """One figure per (profile, data set, network, corruption) of ``suite``: a panel per curve
    metric that has values, a line per row label (mean over seeds)."""
    ok = df[(df["suite"] == suite) & (df["status"] == "ok")]
    data = curves.merge(ok[["trial_id", "profile", "dataset", "model", "corruption", "label", "method", "variant"]],
                        on="trial_id")
    out = []
    for (profile, dataset, model, corr), g in data.groupby(["profile", "dataset", "model", "corruption"], sort=True):
        shown = [m for m in metrics.METRICS if m.curve and g[m.name].notna().any()]
        if not shown:
            continue
        sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
        fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 3.8), squeeze=False)
        labels = order(g)
        palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))   # one colour per row in every panel
        for ax, m in zip(axes[0], shown):
            d = g[g[m.name].notna()].assign(value=lambda t: t[m.name].astype(float) * m.scale)
            sns.lineplot(data=d, x="epoch", y="value", hue="label", hue_order=[l for l in labels if l in set(d["label"])],
                         palette=palette, errorbar=None, ax=ax)
            ax.set_ylabel(m.label + (" (%)" if m.scale == 100 else ""))
            ax.legend(title="method", fontsize=8, title_fontsize=9)
        name = "curves_" + "-".join(str(p) for p in (suite, profile, dataset, model, corr))
        out.append(save(fig, name, f"Per-epoch curves (mean over seeds): {suite}, {corr}: "
                                             f"{dataset} / {model} / {profile}"))
    return out
