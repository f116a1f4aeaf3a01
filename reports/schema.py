"""The results store's one schema, read by the writer (``bench.sweep.store``) and the reader
(``reports.store``): its columns, which are numbers, its version, and the one way to read the
file. It lives in ``reports`` because reports may import nothing above it; bench imports it.

Each row is one physical line (the writer turns newlines inside values into spaces and cuts
each value at MAX_FIELD_BYTES), so the reader splits the file's bytes into lines before decoding
and parsing each: a line torn by a kill (at any byte, inside a character too), or otherwise
damaged, loses only itself.
"""
from __future__ import annotations

import codecs
import csv
import os
import stat
from contextlib import contextmanager

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
    """The header of results.csv: identity and settings, the stored metrics (those with a column:
    the others are keys of ``extra``, reports.metrics), run facts."""
    return HEAD + metrics.columns() + TAIL


def numeric() -> list[str]:
    """The numeric columns of the report's frame (reports.store: the metrics from ``extra`` too)."""
    return NUMERIC_SETTINGS + metrics.stored()


def text() -> list[str]:
    return [c for c in columns() if c not in numeric()]


#: the most any one field of a row takes in the file, in UTF-8 bytes: the writer cuts a longer
#: value (an error's text) and ends it with TRUNCATED, so that no row outgrows what readers take
MAX_FIELD_BYTES = 64 * 1024
TRUNCATED = " ... [truncated]"


class StoreError(Exception):
    """The store cannot be read or written (not a regular file, a damaged header, ...). One line."""


_KINDS = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def exists_as(path, kind: str = "file") -> bool:
    """Whether ``path`` exists as a ``kind`` ("file": a regular one, or "directory"); False when
    absent. Anything else raises StoreError without opening it (a FIFO would block a read or a
    write for ever), as does a path that cannot be looked at (a name too long, a symlink loop)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise StoreError(f"{path}: {e.strerror or e}") from None
    if (stat.S_ISDIR if kind == "directory" else stat.S_ISREG)(mode):
        return True
    is_ = next((name for test, name in _KINDS if test(mode)), "not a file")
    raise StoreError(f"{path} is {is_}, not {'a directory' if kind == 'directory' else 'a regular file'}")


def _parse(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _header(raw: bytes, path) -> list[str]:
    """The columns of a header line; a BOM is read over, anything damaged raises StoreError."""
    raw = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    if b"\0" in raw:
        raise StoreError(f"the header of {path} holds a NUL byte; the file is damaged")
    try:
        header = _parse(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StoreError(f"the header of {path} is not UTF-8 (byte {e.start}); the file is damaged") from None
    except csv.Error as e:
        raise StoreError(f"the header of {path} does not parse ({e}); the file is damaged") from None
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise StoreError(f"the header of {path} names {', '.join(twice)} twice; the file is damaged")
    return header


def _raw_lines(path, first_only: bool = False) -> list[bytes]:
    """The file's non-blank lines, as bytes (read only once it is known to be a regular file)."""
    if not exists_as(path, "file"):
        raise StoreError(f"no results store at {path}")
    try:
        with open(path, "rb") as f:
            data = f.readline() if first_only else f.read()
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
    return [ln for ln in data.splitlines() if ln.strip()]


def read_header(path) -> list[str]:
    """The columns of a results.csv (an empty list for an empty file)."""
    lines = _raw_lines(path, first_only=True)
    return _header(lines[0], path) if lines else []


@contextmanager
def _field_limit(size: int):
    """csv's limit on a field's length (128 Ki characters by default) raised to ``size`` for a
    read: a row is never dropped for a long field the file holds."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, size))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_lines(path) -> tuple[list[str], list[list[str]]]:
    """(header, complete rows) of a results.csv. Each line is decoded and parsed alone: a line
    that is not UTF-8 (torn inside a character), does not parse, has another number of fields
    than the header or repeats the header is skipped alone. Raises StoreError for a file that
    cannot be read at all (missing, not a regular file, a damaged header)."""
    lines = _raw_lines(path)
    if not lines:
        return [], []
    header, rows = _header(lines[0], path), []
    with _field_limit(max(len(ln) for ln in lines) + 1):
        for raw in lines[1:]:
            try:
                r = _parse(raw.decode("utf-8"))
            except (UnicodeDecodeError, csv.Error):
                continue
            if len(r) == len(header) and r != header:
                rows.append(r)
    return header, rows
