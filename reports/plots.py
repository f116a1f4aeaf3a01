"""Plots (PNG, seaborn on matplotlib's Agg backend). Each function draws only when its data
exists and returns the paths it wrote (relative names inside the report folder)."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .tables import METHOD_ORDER, fmt_ratio  # noqa: E402

_META = {"Software": None}  # no version stamp: the same data gives the same bytes


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "_".join(str(p) for p in parts)).strip("-").lower()


def _order(labels_methods) -> list[str]:
    def rank(lm):
        label, method = lm
        return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method, label)
    return [l for l, _ in sorted(set(labels_methods), key=rank)]


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


def accuracy_vs_noise(agg: pd.DataFrame, folder: Path) -> list[str]:
    """Test accuracy vs noise ratio per method, mean line with the 95% CI band."""
    out = []
    sub = agg[agg["suite"].isin(["label_noise", "asym_noise"]) & (agg["imbalance_ratio"] == 1)
              & (agg["test_acc_n"] > 0)]
    for (suite, profile, dataset, model), g in sub.groupby(["suite", "profile", "dataset", "model"], sort=True):
        for fam in sorted(set(g["noise_type"]) - {"none"}) or ["none"]:
            t = g[g["noise_type"].isin([fam, "none"])]
            if t["noise_ratio"].nunique() < 2:
                continue
            _style()
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            labels = _order(zip(t["label"], t["method"]))
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


def purity_vs_accuracy(df: pd.DataFrame, folder: Path) -> list[str]:
    """Dictionary purity vs test accuracy, one point per trial (paper Figure 5 middle)."""
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


def zero_weight_vs_noise(df: pd.DataFrame, folder: Path) -> list[str]:
    """Zero-weight ratio vs realised noise rate per trial, with the diagonal y = x."""
    t = df[(df["status"] == "ok") & df["zero_weight_ratio"].notna() & df["realized_noise"].notna()]
    if t.empty:
        return []
    _style()
    t = t.assign(zw=100 * t["zero_weight_ratio"], rn=100 * t["realized_noise"])
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    sns.scatterplot(data=t, x="rn", y="zw", hue="label", style="suite", s=70, ax=ax,
                    hue_order=_order(zip(t["label"], t["method"])), style_order=sorted(set(t["suite"])))
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


def cost_bars(agg: pd.DataFrame, folder: Path) -> list[str]:
    """Step time and peak memory as ratios to softmax, bars per method, hue per model."""
    out = []
    sub = agg[(agg["suite"] == "cost") & (agg["step_time_ratio_n"] > 0)]
    for (profile, dataset), g in sub.groupby(["profile", "dataset"], sort=True):
        _style()
        order = _order(zip(g["label"], g["method"]))
        models = sorted(set(g["model"]))
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        for ax, metric, name in ((axes[0], "step_time_ratio", "step time"),
                                 (axes[1], "peak_mem_ratio", "peak memory")):
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
        fig.suptitle(f"Cost (paper Figure 4 form): {dataset} / {profile} — dashed: softmax = 1, "
                     "whiskers: 95% CI", fontsize=10)
        fig.tight_layout()
        out.append(_save(fig, folder, f"cost_{_slug(profile, dataset)}.png"))
    return out


def shot_accuracy(agg: pd.DataFrame, folder: Path) -> list[str]:
    """Long tail: many / medium / few-shot accuracy per method, one panel per imbalance ratio."""
    out = []
    sub = agg[(agg["suite"] == "long_tail") & ((agg["many_acc_n"] > 0) | (agg["few_acc_n"] > 0))]
    for (profile, dataset, model), g in sub.groupby(["profile", "dataset", "model"], sort=True):
        _style()
        rows = []
        for _, r in g.iterrows():
            for m, name in (("many_acc", "many"), ("medium_acc", "medium"), ("few_acc", "few")):
                if r[f"{m}_n"] > 0:
                    rows.append(dict(label=r["label"], method=r["method"], shots=name,
                                     acc=100 * r[f"{m}_mean"],
                                     imb=f"imbalance {fmt_ratio(r['imbalance_ratio'])}"
                                         + ("" if r["noise_type"] == "none" else f", {r['corruption']}")))
        d = pd.DataFrame(rows)
        panels = sorted(set(d["imb"]), key=lambda s: -float(s.split()[1].rstrip(",")))
        order = _order(zip(d["label"], d["method"]))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), sharey=True, squeeze=False)
        for ax, p in zip(axes[0], panels):
            sns.barplot(data=d[d["imb"] == p], x="shots", y="acc", hue="label", order=["many", "medium", "few"],
                        hue_order=order, ax=ax, errorbar=None)
            ax.set_title(p, fontsize=10)
            for x, shots in enumerate(("many", "medium", "few")):
                if d[(d["imb"] == p) & (d["shots"] == shots)].empty:
                    ax.text(x, 2, "no such\nclasses", ha="center", va="bottom", fontsize=8, color="grey")
            ax.set_xlabel("classes by training-set size")
            ax.set_ylabel("test accuracy (%)")
            ax.legend(title="method", fontsize=8, title_fontsize=9)
        fig.suptitle(f"Long tail, accuracy by class frequency: {dataset} / {model} / {profile} "
                     "(many > 100, medium 20-100, few < 20 samples)", fontsize=10)
        fig.tight_layout()
        out.append(_save(fig, folder, f"shots_{_slug(profile, dataset, model)}.png"))
    return out


def all_plots(df: pd.DataFrame, agg: pd.DataFrame, folder: Path) -> dict[str, list[str]]:
    """Every plot whose data exists: {kind: [relative paths]}."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return {
        "accuracy_vs_noise": accuracy_vs_noise(agg, folder),
        "purity_vs_accuracy": purity_vs_accuracy(df, folder),
        "zero_weight_vs_noise": zero_weight_vs_noise(df, folder),
        "cost": cost_bars(agg, folder),
        "shots": shot_accuracy(agg, folder),
    }
