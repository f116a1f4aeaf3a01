"""The results store: DIR/results.csv, one row per finished trial, append-only. Its columns and
its reader are ``reports.schema``'s, shared with the report.

Rows are appended (and flushed to disk) one at a time as trials finish, so a killed sweep
keeps every row it finished; a torn last line left by a kill is ignored on read and never
glued to the next row. Each value is cut at ``MAX_FIELD_BYTES`` (ending in ``TRUNCATED``).
A row that results.csv refuses (a file made read-only during the sweep) goes to the side file
DIR/results.pending.csv, which the next ``--resume`` merges into results.csv. pandas reads the
file without the project.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from reports.schema import (MAX_FIELD_BYTES, SCHEMA_VERSION, TRUNCATED, StoreError, columns,  # noqa: F401
                            exists_as, read_header, read_lines)

__all__ = ["StoreError", "columns", "append_row", "check_writable", "finished_ids", "header_difference",
           "merge_pending", "pending_path", "read_rows", "results_path"]


def results_path(out_dir) -> Path:
    return Path(out_dir) / "results.csv"


def pending_path(out_dir) -> Path:
    """Rows finished while results.csv could not be written; the next --resume merges them."""
    return Path(out_dir) / "results.pending.csv"


def _cap(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_FIELD_BYTES:
        return text
    keep = MAX_FIELD_BYTES - len(TRUNCATED.encode("utf-8"))
    return data[:keep].decode("utf-8", errors="ignore") + TRUNCATED


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (dict, list)):
        return _cap(json.dumps(value, sort_keys=True))
    return _cap(str(value).replace("\r", " ").replace("\n", " "))


def _line(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue().encode("utf-8")


def _open_for_append(path: Path):
    """The one way the store opens a file to add rows (and to check, before a sweep, that it can)."""
    return open(path, "a+b")


def _append(path: Path, rows: list[dict]) -> None:
    """Rows at the end of ``path``, in its own column order (the schema's for a new file), flushed."""
    new = not exists_as(path) or path.stat().st_size == 0
    header = columns() if new else read_header(path)
    with _open_for_append(path) as f:
        data = _line(header) if new else b""
        if not new:  # a kill mid-write can leave a line without its newline: close it off
            f.seek(-1, os.SEEK_END)
            data = b"" if f.read(1) == b"\n" else b"\n"
        data += b"".join(_line([_cell(row.get(c)) for c in header]) for row in rows)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def append_row(out_dir, row: dict) -> str | None:
    """One row, flushed to disk, in the file's own column order (the schema's for a new file).

    Returns None, or, when results.csv refused the row and it went to results.pending.csv
    instead, why (one line). Raises StoreError when neither file can take it."""
    row = {**row, "schema_version": SCHEMA_VERSION}
    path, side = results_path(out_dir), pending_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _append(path, [row])
        return None
    except (OSError, StoreError) as e:
        why = f"cannot write {path} ({getattr(e, 'strerror', None) or e})"
    try:
        _append(side, [row])
    except (OSError, StoreError) as e:
        raise StoreError(f"{why}, nor {side} ({getattr(e, 'strerror', None) or e})") from None
    return f"{why}: rows go to {side} instead; `python -m bench run --resume` merges them into it"


def check_writable(out_dir) -> None:
    """Raises StoreError unless DIR/results.csv is absent or a regular file that takes rows:
    checked before a sweep, so that no trial runs for a store that would lose its row."""
    path = results_path(out_dir)
    if exists_as(path):
        try:
            _open_for_append(path).close()
        except OSError as e:
            raise StoreError(f"cannot write {path} ({e.strerror or e}); nothing was run") from None


def _rows(path: Path) -> list[dict]:
    header, rows = read_lines(path)
    return [dict(zip(header, r)) for r in rows]


def read_rows(out_dir) -> list[dict]:
    """All complete rows, as dicts of strings (torn or malformed lines skipped, each alone)."""
    path = results_path(out_dir)
    return _rows(path) if exists_as(path) else []


def merge_pending(out_dir) -> int:
    """Appends the rows of DIR/results.pending.csv that results.csv lacks (a merge cut short
    leaves no duplicate when repeated), then removes the side file; returns how many."""
    side = pending_path(out_dir)
    if not exists_as(side):
        return 0
    why = _difference(side)
    if why:
        raise StoreError(why)
    have = {tuple(sorted(r.items())) for r in read_rows(out_dir)}
    new = [r for r in _rows(side) if tuple(sorted(r.items())) not in have]
    if new:
        try:
            _append(results_path(out_dir), new)
        except OSError as e:
            raise StoreError(f"cannot merge {side} into {results_path(out_dir)} ({e.strerror or e})") from None
    side.unlink()
    return len(new)


def _difference(path: Path) -> str | None:
    if not exists_as(path) or path.stat().st_size == 0:
        return None
    header = read_header(path)
    cols = columns()
    missing, extra = [c for c in cols if c not in header], [c for c in header if c not in cols]
    if not missing and not extra:
        return None   # the same columns, in any order: rows are appended in the file's order
    what = (f"lacks {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
           (f"has unknown {', '.join(extra)}" if extra else "")
    return f"{path} was written by another version (its header {what}); choose another --out"


def header_difference(out_dir) -> str | None:
    """Why rows of this version cannot be appended to DIR/results.csv (its header differs), or None."""
    return _difference(results_path(out_dir))


def finished_ids(out_dir) -> set[str]:
    """Trial ids with a successful row (failed trials are retried by --resume)."""
    return {r["trial_id"] for r in read_rows(out_dir) if r.get("status") == "ok"}
