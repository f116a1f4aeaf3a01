"""The results store: DIR/results.csv, one row per finished trial, append-only. Its columns and
its reader are ``reports.schema``'s, shared with the report.

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

from reports.schema import SCHEMA_VERSION, StoreError, columns, read_lines  # noqa: F401 (re-exported)

__all__ = ["StoreError", "columns", "append_row", "finished_ids", "header_difference", "read_rows",
           "results_path"]


def results_path(out_dir) -> Path:
    return Path(out_dir) / "results.csv"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value).replace("\r", " ").replace("\n", " ")


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader([f.readline()]), [])


def append_row(out_dir, row: dict) -> None:
    """One row, flushed to disk, in the file's own column order (the schema's for a new file)."""
    row = {**row, "schema_version": SCHEMA_VERSION}
    path = results_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    header = columns() if new else _header(path)
    with open(path, "a+", newline="", encoding="utf-8") as f:
        if not new:  # a kill mid-write can leave a line without its newline: close it off
            f.seek(f.tell() - 1)
            if f.read(1) != "\n":
                f.write("\n")
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerow([_cell(row.get(c)) for c in header])
        f.flush()
        os.fsync(f.fileno())


def read_rows(out_dir) -> list[dict]:
    """All complete rows, as dicts of strings (torn or malformed lines skipped, each alone)."""
    path = results_path(out_dir)
    if not path.exists():
        return []
    header, rows = read_lines(path)
    return [dict(zip(header, r)) for r in rows]


def header_difference(out_dir) -> str | None:
    """Why rows of this version cannot be appended to DIR/results.csv (its header differs), or None."""
    path = results_path(out_dir)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return None
    header, _ = read_lines(path)
    cols = columns()
    missing, extra = [c for c in cols if c not in header], [c for c in header if c not in cols]
    if not missing and not extra:
        return None   # the same columns, in any order: rows are appended in the file's order
    what = (f"lacks {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
           (f"has unknown {', '.join(extra)}" if extra else "")
    return f"{path} was written by another version (its header {what}); choose another --out"


def finished_ids(out_dir) -> set[str]:
    """Trial ids with a successful row (failed trials are retried by --resume)."""
    return {r["trial_id"] for r in read_rows(out_dir) if r.get("status") == "ok"}
