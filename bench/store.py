"""The results store: DIR/results.csv, one row per finished trial, append-only.

Rows are appended (and flushed to disk) one at a time as trials finish, so a killed sweep
keeps every row it finished; a torn last line left by a kill is ignored on read and never
glued to the next row. pandas reads the file without the project.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

COLUMNS = [
    "trial_id", "suite", "profile", "dataset", "model", "method", "variant", "corruption",
    "noise_type", "noise_ratio", "imbalance_ratio", "realized_noise", "seed", "epochs",
    "test_acc", "best_acc", "raw_test_acc", "raw_best_acc", "imagenet_acc", "dict_purity", "zero_weight_ratio", "weight_auroc", "weight_purity",
    "clean_weight", "noisy_weight", "many_acc", "medium_acc", "few_acc",
    "step_time_s", "step_time_iqr_s", "peak_mem_mb", "device", "num_train", "num_reward",
    "status", "error", "wall_s", "started_at", "hparams",
    # identity without the seed, and provenance: rows differing in any of these never share a cell
    "config_id", "code_version", "torch_version", "torchvision_version", "ray_version", "threads",
]


def results_path(out_dir) -> Path:
    return Path(out_dir) / "results.csv"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value).replace("\n", " ")


def append_row(out_dir, row: dict) -> None:
    path = results_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a+", newline="") as f:
        if not new:  # a kill mid-write can leave a line without its newline: close it off
            f.seek(f.tell() - 1)
            if f.read(1) != "\n":
                f.write("\n")
        w = csv.writer(f)
        if new:
            w.writerow(COLUMNS)
        w.writerow([_cell(row.get(c)) for c in COLUMNS])
        f.flush()
        os.fsync(f.fileno())


def read_rows(out_dir) -> list[dict]:
    """All complete rows, as dicts of strings (torn or malformed lines skipped)."""
    path = results_path(out_dir)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            return []
        return [dict(zip(header, r)) for r in reader if len(r) == len(header)]


def header_difference(out_dir) -> str | None:
    """Why rows of this version cannot be appended to DIR/results.csv (its header differs), or None."""
    path = results_path(out_dir)
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    if header == COLUMNS:
        return None
    missing, extra = [c for c in COLUMNS if c not in header], [c for c in header if c not in COLUMNS]
    what = (f"lacks {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
           (f"has unknown {', '.join(extra)}" if extra else "")
    return f"{path} was written by another version (its header {what or 'has another column order'}); " \
           "choose another --out"


def finished_ids(out_dir) -> set[str]:
    """Trial ids with a successful row (failed trials are retried by --resume)."""
    return {r["trial_id"] for r in read_rows(out_dir) if r.get("status") == "ok"}
