"""The results store's one schema, read by the writer (``bench.store``) and the reader
(``reports.store``): its columns, which are numbers, its version, and the one way to read the
file. It lives in ``reports`` because reports may import nothing above it; bench imports it.

Each row is one physical line (the writer turns newlines inside values into spaces), so the
reader splits the file into lines before parsing: a line torn by a kill, or otherwise damaged,
loses only itself.
"""
from __future__ import annotations

import csv
from pathlib import Path

from . import metrics

SCHEMA_VERSION = 2   # 2: raw / EMA accuracies, imagenet_acc, config_id, provenance, extra, schema_version
# (a store whose header has the same columns in another order is still version 2: rows are
# appended in its own order)

#: the columns before and after the metrics (reports.metrics: one column per stored metric)
HEAD = ["trial_id", "suite", "profile", "dataset", "model", "method", "variant", "corruption",
        "noise_type", "noise_ratio", "imbalance_ratio", "seed", "epochs"]
TAIL = ["device", "num_train", "num_reward", "status", "error", "started_at", "hparams",
        # identity without the seed, and provenance: rows differing in any of these never share a cell
        "config_id", "code_version", "torch_version", "torchvision_version", "ray_version", "threads",
        # every other scalar a trial returned, as one JSON object; the schema's version
        "extra", "schema_version"]
#: the settings stored as numbers (NaN where they do not apply); every metric is one too
NUMERIC_SETTINGS = ["noise_ratio", "imbalance_ratio", "seed", "epochs", "num_train", "num_reward", "threads",
                    "schema_version"]


def columns() -> list[str]:
    """The header of results.csv: identity and settings, the stored metrics, run facts."""
    return HEAD + metrics.stored() + TAIL


def numeric() -> list[str]:
    return NUMERIC_SETTINGS + metrics.stored()


def text() -> list[str]:
    return [c for c in columns() if c not in numeric()]


class StoreError(Exception):
    """The store cannot be read (not a file, not UTF-8). One line."""


def read_lines(path) -> tuple[list[str], list[list[str]]]:
    """(header, complete rows) of a results.csv; a line that does not parse into as many fields
    as the header is skipped alone. Raises StoreError for a file that cannot be read at all."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a results file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StoreError(f"{path} is not UTF-8 (byte {e.start}); it is damaged") from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return [], []
    parse = lambda ln: next(csv.reader([ln]), [])
    header, rows = parse(lines[0]), []
    for ln in lines[1:]:
        try:
            r = parse(ln)
        except csv.Error:
            continue
        if len(r) == len(header):
            rows.append(r)
    return header, rows
