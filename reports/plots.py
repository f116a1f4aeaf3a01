"""Plots (PNG, seaborn on matplotlib's Agg backend), each a plot kind of reports.kinds with its
caption. Each function draws only when its data exists and returns the paths it wrote
(relative names inside the report folder)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import kinds, metrics  # noqa: E402
from .curves import curve_plots, read_curves, row_dirs  # noqa: E402
from .layouts import SuiteReport  # noqa: E402
from .render import fmt_ratio  # noqa: E402
from .tables import row_rank  # noqa: E402

_META = {"Software": None}  # no version stamp: the same data gives the same bytes


@dataclass
class PlotData:
    """What the plots draw from: the trials, the tidy aggregate, and the per-epoch curves of the
    trial directories the rows name (else under ``out_dir``/ray; read once, when first drawn)."""
    df: pd.DataFrame
    agg: pd.DataFrame
    out_dir: object = None

    @cached_property
    def curves(self) -> pd.DataFrame | None:
        return None if self.out_dir is None else read_curves(self.out_dir, self.df["trial_id"], row_dirs(self.df))


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "_".join(str(p) for p in parts)).strip("-").lower()


def _order(t: pd.DataFrame, report: SuiteReport | None) -> list[str]:
    """The labels of ``t`` in the suite's row order (by method and label without a declaration)."""
    report = report or SuiteReport(title="")
    ranks = {}
    for _, r in t.iterrows():
        ranks.setdefault(r["label"], (row_rank(report, r), r["label"]))
    return sorted(ranks, key=ranks.get)


def _finish(fig, folder: Path, name: str, title: str) -> str:
    """A figure of panels: its title over them, laid out, saved."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, folder, name)


def _save(fig, folder: Path, name: str) -> str:
    path = folder / name
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata=_META)
    plt.close(fig)
    return f"plots/{name}"



def _bold_legend_headers(ax, headers: dict) -> None:
    """seaborn puts hue/style titles in the legend as entries: rename them and set them bold."""
    for text in ax.get_legend().get_texts():
        if text.get_text() in headers:
            text.set_text(headers[text.get_text()])
            text.set_fontweight("bold")

def _style():
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")


@kinds.plot("accuracy_vs_noise", "Test accuracy vs noise ratio (band: 95% CI of the mean)")
def accuracy_vs_noise(data: PlotData, folder: Path, suite: str, report: SuiteReport) -> list[str]:
    """Test accuracy vs noise ratio per method, mean line with the 95% CI band."""
    out, agg = [], data.agg
    sub = agg[(agg["suite"] == suite) & (agg["imbalance_ratio"] == 1) & (agg["test_acc_n"] > 0)]
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        for fam in sorted(set(g["noise_type"]) - {"none"}) or ["none"]:
            t = g[g["noise_type"].isin([fam, "none"])]
            if t["noise_ratio"].nunique() < 2:
                continue
            _style()
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            labels = _order(t, report)
            colors = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
            for label in labels:
                d = t[t["label"] == label].sort_values("noise_ratio")
                x, y = d["noise_ratio"].to_numpy(), 100 * d["test_acc_mean"].to_numpy()
                lo, hi = 100 * d["test_acc_ci_low"].to_numpy(), 100 * d["test_acc_ci_high"].to_numpy()
                ax.plot(x, y, marker="o", color=colors[label], label=label)
                ok = np.isfinite(lo) & np.isfinite(hi)
                if ok.any():
                    ax.fill_between(x[ok], lo[ok], hi[ok], color=colors[label], alpha=0.2, linewidth=0)
            ax.set_xlabel(f"noise ratio ({fam})")
            ax.set_ylabel("test accuracy (%)")
            ax.set_xticks(sorted(set(t["noise_ratio"])))
            ax.set_title(f"{suite}: {dataset} / {model} / {profile}\n(band: 95% CI of the mean)",
                         fontsize=10)
            ax.legend(title="method", fontsize=9, title_fontsize=9)
            out.append(_save(fig, folder, f"acc_vs_noise_{_slug(suite, profile, dataset, model, fam)}.png"))
    return out


@kinds.plot("purity_vs_accuracy", "Dictionary purity vs test accuracy (paper Figure 5 middle)", across=True)
def purity_vs_accuracy(data: PlotData, folder: Path) -> list[str]:
    """Dictionary purity vs test accuracy, one point per trial (paper Figure 5 middle)."""
    df = data.df
    t = df[(df["status"] == "ok") & df["dict_purity"].notna() & df["test_acc"].notna()]
    if t.empty:
        return []
    _style()
    t = t.assign(purity=100 * t["dict_purity"], acc=100 * t["test_acc"],
                 noise=[f"{nt} {fmt_ratio(r)}" if nt != "none" else "clean"
                        for nt, r in zip(t["noise_type"], t["noise_ratio"])],
                 where=t["label"] + ": " + t["dataset"] + " / " + t["model"] + " (" + t["suite"] + ")")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sns.scatterplot(data=t, x="purity", y="acc", hue="noise", style="where", s=70, ax=ax,
                    hue_order=sorted(set(t["noise"]), key=lambda k: (k != "clean", k)),
                    style_order=sorted(set(t["where"])))
    ax.set_xlabel("dictionary purity (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Dictionary purity vs test accuracy (one point per trial)", fontsize=10)
    ax.legend(fontsize=8, title_fontsize=9, bbox_to_anchor=(1.02, 1), loc="upper left")
    _bold_legend_headers(ax, {"noise": "label noise", "where": "method: data / network (suite)"})
    return [_save(fig, folder, "purity_vs_accuracy.png")]


@kinds.plot("zero_weight_vs_noise", "Zero-weight ratio vs realised noise (dashed diagonal: y = x)", across=True)
def zero_weight_vs_noise(data: PlotData, folder: Path) -> list[str]:
    """Zero-weight ratio vs realised noise rate per trial, with the diagonal y = x."""
    df = data.df
    t = df[(df["status"] == "ok") & df["zero_weight_ratio"].notna() & df["realized_noise"].notna()]
    if t.empty:
        return []
    _style()
    t = t.assign(zw=100 * t["zero_weight_ratio"], rn=100 * t["realized_noise"])
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    sns.scatterplot(data=t, x="rn", y="zw", hue="label", style="suite", s=70, ax=ax,
                    hue_order=_order(t, None), style_order=sorted(set(t["suite"])))
    top = max(float(t["zw"].max()), float(t["rn"].max()), 1.0) * 1.08
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=1, label="y = x")
    ax.set_xlim(-1, top)
    ax.set_ylim(-1, top)
    ax.set_xlabel("realised noise rate (%)")
    ax.set_ylabel("zero-weight ratio (%)")
    ax.set_title("Zero-weight ratio vs realised noise (dashed: y = x)", fontsize=10)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    _bold_legend_headers(ax, {"label": "method", "suite": "suite"})
    return [_save(fig, folder, "zero_weight_vs_noise.png")]


@kinds.plot("cost", "Cost relative to softmax (paper Figure 4)")
def cost_bars(data: PlotData, folder: Path, suite: str, report: SuiteReport) -> list[str]:
    """Step time and peak memory as ratios to softmax, bars per method, hue per model."""
    out, agg = [], data.agg
    ratios = metrics.in_table("cost_ratio")
    sub = agg[(agg["suite"] == suite) & (agg[f"{ratios[0].name}_n"] > 0)]
    for (profile, dataset), g in sub.groupby(["profile", "dataset"], sort=True):
        _style()
        order = _order(g, report)
        models = sorted(set(g["model"]))
        fig, axes = plt.subplots(1, len(ratios), figsize=(5 * len(ratios), 4.2), squeeze=False)
        for ax, metric, name in zip(axes[0], [m.name for m in ratios], [m.label for m in ratios]):
            d = g[g[f"{metric}_n"] > 0]
            width = 0.8 / max(len(models), 1)
            colors = sns.color_palette("colorblind", len(models))
            for k, m in enumerate(models):
                dm = d[d["model"] == m].set_index("label")
                xs, ys, errs = [], [], []
                for i, label in enumerate(order):
                    if label in dm.index:
                        r = dm.loc[label]
                        xs.append(i - 0.4 + width * (k + 0.5))
                        ys.append(r[f"{metric}_mean"])
                        errs.append([[max(r[f"{metric}_mean"] - r[f"{metric}_ci_low"], 0) if np.isfinite(r[f"{metric}_ci_low"]) else 0],
                                     [max(r[f"{metric}_ci_high"] - r[f"{metric}_mean"], 0) if np.isfinite(r[f"{metric}_ci_high"]) else 0]])
                if xs:
                    e = np.array(errs)[:, :, 0].T
                    ax.bar(xs, ys, width=width * 0.95, color=colors[k], label=m, yerr=e, capsize=3)
            ax.axhline(1.0, color="black", lw=1, ls="--")
            ax.set_xticks(range(len(order)), order, rotation=20, ha="right")
            ax.set_xlabel("method")
            ax.set_ylabel(f"{name} / softmax (×)")
            ax.set_title(f"{name} relative to softmax", fontsize=10)
            ax.legend(title="model", fontsize=8, title_fontsize=9)
        out.append(_finish(fig, folder, f"cost_{_slug(suite, profile, dataset)}.png",
                           f"Cost (paper Figure 4 form): {dataset} / {profile} — dashed: softmax = 1, whiskers: 95% CI"))
    return out


@kinds.plot("shots", "Long tail: many / medium / few-shot accuracy")
def shot_accuracy(data: PlotData, folder: Path, suite: str, report: SuiteReport) -> list[str]:
    """Long tail: many / medium / few-shot accuracy per method, one panel per imbalance ratio."""
    out, agg = [], data.agg
    shots = [(m.name, m.label.removesuffix("-shot")) for m in metrics.in_table("shots")]
    sub = agg[(agg["suite"] == suite) & pd.concat([agg[f"{m}_n"] > 0 for m, _ in shots], axis=1).any(axis=1)]
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        _style()
        rows = []
        for _, r in g.iterrows():
            for m, name in shots:
                if r[f"{m}_n"] > 0:
                    rows.append(dict(label=r["label"], method=r["method"], variant=r["variant"], shots=name,
                                     acc=100 * r[f"{m}_mean"],
                                     imb=f"imbalance {fmt_ratio(r['imbalance_ratio'])}"
                                         + ("" if r["noise_type"] == "none" else f", {r['corruption']}")))
        d = pd.DataFrame(rows)
        panels = sorted(set(d["imb"]), key=lambda s: -float(s.split()[1].rstrip(",")))
        order = _order(d, report)
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), sharey=True, squeeze=False)
        for ax, p in zip(axes[0], panels):
            sns.barplot(data=d[d["imb"] == p], x="shots", y="acc", hue="label", order=[n for _, n in shots],
                        hue_order=order, ax=ax, errorbar=None)
            ax.set_title(p, fontsize=10)
            for x, (_, name) in enumerate(shots):
                if d[(d["imb"] == p) & (d["shots"] == name)].empty:
                    ax.text(x, 2, "no such\nclasses", ha="center", va="bottom", fontsize=8, color="grey")
            ax.set_xlabel("classes by training-set size")
            ax.set_ylabel("test accuracy (%)")
            ax.legend(title="method", fontsize=8, title_fontsize=9)
        out.append(_finish(fig, folder, f"shots_{_slug(suite, profile, dataset, model)}.png",
                           f"Long tail, accuracy by class frequency: {dataset} / {model} / {profile} "
                           "(many > 100, medium 20-100, few < 20 samples)"))
    return out


@kinds.plot("curves", "Per-epoch curves, mean over seeds (from the trial directories)")
def curves(data: PlotData, folder: Path, suite: str, report: SuiteReport) -> list[str]:
    """The per-epoch curves of the suite's trials (reports.curves), from the trial directories."""
    if data.curves is None:
        return []
    return curve_plots(data.df, data.curves, folder, suite, lambda t: _order(t, report),
                       lambda fig, name, title: _finish(fig, folder, _slug(name) + ".png", title))


def all_plots(df: pd.DataFrame, agg: pd.DataFrame, folder: Path, suites: dict, out_dir=None) -> dict[str, dict]:
    """Every plot whose data exists: {kind: {suite (None: across suites): [relative paths]}};
    each suite gets the plots its declaration lists (``suites``: name -> SuiteReport); the
    per-epoch curves come from the trial directories the rows name (else under ``out_dir``/ray)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    data = PlotData(df, agg, out_dir)
    out = {kind: {None: kinds.PLOTS[kind].build(data, folder)} for kind in kinds.across_plots()}
    for suite, report in suites.items():
        for kind in report.plots:
            out.setdefault(kind, {})[suite] = kinds.PLOTS[kind].build(data, folder, suite, report)
    return out
