"""Per-cell summaries: n, mean, sample std and a seeded 95% bootstrap CI of the mean."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from . import metrics

#: fixed seed of every bootstrap (a fresh generator per call, so results do not depend on order)
BOOTSTRAP_SEED = 0
N_RESAMPLES = 9999
CONFIDENCE = 0.95
T_INTERVAL_MAX_N = 3

#: what identifies one cell of results (one row of the tidy CSV)
KEY = ["suite", "profile", "dataset", "model", "method", "variant", "label", "corruption",
       "noise_type", "noise_ratio", "imbalance_ratio", "reward_size", "config_id", "device_type", "code_version"]


def summarize(values) -> dict:
    """n, mean, std (ddof 1) and a 95% CI of the mean of the finite values: Student's t interval
    for n <= 3 (a percentile bootstrap over two or three values is far too narrow), a percentile
    bootstrap above.

    std is NaN for n < 2; the CI is NaN for n < 2 and collapses to the value when all are equal.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    out = dict(n=n, mean=math.nan, std=math.nan, ci_low=math.nan, ci_high=math.nan)
    if n == 0:
        return out
    out["mean"] = float(x.mean())
    if n < 2:
        return out
    out["std"] = float(x.std(ddof=1))
    if np.all(x == x[0]):
        out["ci_low"] = out["ci_high"] = float(x[0])
        return out
    if n <= T_INTERVAL_MAX_N:
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * out["std"] / math.sqrt(n)
        out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((x,), np.mean, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE,
                              method="percentile", vectorized=True,
                              rng=np.random.default_rng(BOOTSTRAP_SEED))
    out["ci_low"] = float(res.confidence_interval.low)
    out["ci_high"] = float(res.confidence_interval.high)
    return out


#: the method every ratio is taken over, and whose memorisation the regime note reads
BASELINE = "softmax"


def is_baseline(r) -> bool:
    """Plain softmax: the method's own row (its variants, e.g. the cost suite's fsr-floor, are not)."""
    return r["method"] == BASELINE and (r["variant"] or "") in ("", BASELINE)


def add_cost_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """The ratio metrics (reports.metrics, ``ratio_of``; step_time_ratio, peak_mem_ratio): each
    trial over the mean of the ok plain softmax trials of the same (suite, profile, dataset,
    model) group (softmax variants such as the cost suite's "fsr-floor" are not the baseline);
    NaN where the group has no softmax row."""
    df = df.copy()
    group = ["suite", "profile", "dataset", "model"]
    plain = (df["method"] == BASELINE) & df["variant"].fillna("").isin(["", BASELINE])
    ok = df[(df["status"] == "ok") & plain]
    for col, ratio in ((m.ratio_of, m.name) for m in metrics.METRICS if m.ratio_of):
        base = ok.groupby(group)[col].mean().rename("_base")
        merged = df[group].merge(base, left_on=group, right_index=True, how="left")["_base"]
        df[ratio] = df[col] / merged.to_numpy()
    return df


def add_reward_size(df: pd.DataFrame) -> pd.DataFrame:
    """``reward_size`` (the swept value of the reward_size suite, else empty): num_reward of the
    trial, filled for failed rows from an ok row of the same configuration, else '?'."""
    df = df.copy()
    df["reward_size"] = ""
    mask = df["suite"] == "reward_size"
    if mask.any():
        sub = df[mask]
        conf = ["profile", "dataset", "model", "method", "variant", "corruption", "hparams"]
        def fill(col):
            known = col.dropna().unique()
            return col.fillna(known[0]) if len(known) == 1 else col
        filled = sub.groupby(conf)["num_reward"].transform(fill)
        df.loc[mask, "reward_size"] = [("?" if not np.isfinite(v) else f"{int(v)}") for v in filled]
    return df


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy table: one row per cell (KEY), with n_trials / n_ok / n_failed / seeds and
    METRIC_{n,mean,std,ci_low,ci_high} for every aggregated metric (reports.metrics), sorted by KEY."""
    rows = []
    for key, g in df.groupby(KEY, sort=True, dropna=False):
        ok = g[g["status"] == "ok"]
        row = dict(zip(KEY, key))
        seeds = ok["seed"].dropna().astype(int)
        row.update(n_trials=len(g), n_ok=len(ok), n_failed=len(g) - len(ok),
                   seeds=" ".join(str(s) for s in sorted(seeds.unique())),
                   dup_seeds=" ".join(str(s) for s in sorted(seeds[seeds.duplicated()].unique())),
                   devices=";".join(sorted(d for d in ok["device"].unique() if d)))
        for m in metrics.aggregated():
            s = summarize(ok[m])
            row.update({f"{m}_{k}": v for k, v in s.items()})
        rows.append(row)
    return pd.DataFrame(rows)
