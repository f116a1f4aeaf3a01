"""Reading the results store, DIR/results.csv, without importing the harness.

The file is append-only and may hold a torn line (a killed sweep); such lines, and any row
whose field count differs from the header, are skipped alone by the schema's one reader, the
writer's too (``reports.schema``). Rows a sweep could not write to it wait in
DIR/results.pending.csv (the next ``run --resume`` merges them); they are read too. A trial id
may appear more than once (a failed trial retried by --resume): the last ok row per trial id
wins, else the last row.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .schema import StoreError, exists_as, numeric, read_lines, text


class ReportError(Exception):
    """The results store cannot be reported on (missing, empty, unreadable). One line."""


#: what must agree, beside suite, data set, model, method and variant, for rows to share a cell
#: (empty in stores written before these columns existed)
CELL_IDENTITY = ["config_id", "device_type", "code_version"]


def results_path(out_dir) -> Path:
    return Path(out_dir) / "results.csv"


def load_results(out_dir) -> pd.DataFrame:
    """The store as a DataFrame: one row per trial id (the last one), typed columns.

    Adds ``label`` (the variant when set, else the method): the row name in every table.
    Raises ReportError when the file is missing or holds no complete row.
    """
    path = results_path(out_dir)
    try:
        if not exists_as(path):
            raise ReportError(f"no results store at {path}: run `python -m bench run` first")
        header, rows = read_lines(path)
        rows += _pending(Path(out_dir) / "results.pending.csv", header, rows)
    except StoreError as e:
        raise ReportError(str(e)) from None
    if not header or not rows:
        raise ReportError(f"results store {path} has no rows")
    if "trial_id" not in header:
        raise ReportError(f"results store {path} has no trial_id column")
    df = pd.DataFrame(rows, columns=header)
    rows_read = len(df)
    # one row per trial id: the last ok one, else the last one (a failed retry never hides a result)
    ok_last = df.assign(_ok=(df["status"].str.strip().str.lower() == "ok") if "status" in df else False)
    df = (ok_last.reset_index().sort_values(["_ok", "index"], kind="stable")
          .drop_duplicates("trial_id", keep="last").sort_values("index")
          .drop(columns=["_ok", "index"]).reset_index(drop=True))
    df.attrs["rows_read"] = rows_read
    for c in text():
        df[c] = df[c].fillna("").astype(str).str.strip() if c in df else ""
    extras = [json_object(e) for e in df["extra"]]
    for name in metrics.in_extra():   # the metrics kept in ``extra`` (reports.metrics), as columns
        df[name] = [_number(e.get(name)) for e in extras]
    for c in numeric():
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df else np.nan
    df["status"] = df["status"].str.lower().replace("", "failed")
    # no noise: an empty type or a zero ratio; a type with no ratio (human noise) keeps its type
    df.loc[(df["noise_type"] == "") | (df["noise_ratio"] == 0), "noise_type"] = "none"
    df["noise_ratio"] = df["noise_ratio"].fillna(0.0)
    df["imbalance_ratio"] = df["imbalance_ratio"].fillna(1.0)
    df.loc[df["corruption"] == "", "corruption"] = "clean"
    df["device_type"] = [("" if not d else "cpu" if d.startswith("cpu") else "gpu") for d in df["device"]]
    df["label"] = np.where(df["variant"] != "", df["variant"], df["method"])
    return _distinguish_unlike_runs(df)


def _pending(side: Path, header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The rows a sweep kept in the side file while results.csv could not be written (the next
    ``run --resume`` merges them), in the store's column order; those already in it are left out."""
    if not exists_as(side):
        return []
    side_header, side_rows = read_lines(side)
    if sorted(side_header) != sorted(header):
        raise StoreError(f"{side} has other columns than results.csv")
    have = set(map(tuple, rows))
    moved = [[dict(zip(side_header, r))[c] for c in header] for r in side_rows]
    return [r for r in moved if tuple(r) not in have]


def _distinguish_unlike_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one table that share a label but not their configuration (hyper-parameters,
    epochs, ...), device type or code version must never be pooled: each such group's label gets
    the short signature of what it ran, e.g. ``fsr [cfg 1a2b3c, gpu, 0.1.0+abcd]``."""
    table = ["suite", "profile", "dataset", "model", "label"]
    sig = df[CELL_IDENTITY].astype(str).agg("|".join, axis=1)
    unlike = sig.groupby([df[c] for c in table]).transform("nunique") > 1
    if unlike.any():
        def short(r):
            parts = [f"cfg {r['config_id'][:6]}" if r["config_id"] else "cfg ?", r["device_type"] or "?",
                     r["code_version"] or "?"]
            return f"{r['label']} [{', '.join(parts)}]"
        df.loc[unlike, "label"] = df[unlike].apply(short, axis=1)
    return df


def json_object(text: str) -> dict:
    """A JSON object cell (``hparams``, ``extra``) as a dict; {} for anything else."""
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
