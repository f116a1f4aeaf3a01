"""The report's kinds, one registry each, every kind declared once where its builder is defined:

- a table kind a suite may list (``@table``): its builder ``(agg, suite, report) -> [Table]`` and
  the metric groups it shows (the names a metric lists in its ``tables``, reports.metrics);
- a plot kind a suite may list (``@plot``): its builder ``(data, folder, suite, report) -> [paths]``
  and its caption; a plot drawn once across suites (``@plot(..., across=True)``): ``(data, folder)``.

The per-epoch curves are the "curves" plot kind; the metrics they draw are the ones declared
with ``curve=True`` (reports.metrics). The builders' modules register their kinds as the
package loads (reports/__init__), before any declaration is checked against them
(layouts.SuiteReport, metrics.declare). This module imports nothing of reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class TableKind:
    name: str
    build: Callable
    shows: tuple       # metric groups: a metric with one of them in its ``tables`` is shown here


@dataclass(frozen=True)
class PlotKind:
    name: str
    title: str         # the figure's caption in the report
    build: Callable
    across: bool = False   # drawn once for all suites (a suite does not list it)


TABLES: dict[str, TableKind] = {}
PLOTS: dict[str, PlotKind] = {}


def table(name: str, shows: tuple | None = None):
    """Register the decorated function as table kind ``name`` (showing the metric group
    ``name`` unless ``shows`` names others)."""
    def register(build):
        TABLES[name] = TableKind(name, build, tuple(shows or (name,)))
        return build
    return register


def plot(name: str, title: str, across: bool = False):
    """Register the decorated function as plot kind ``name`` with its caption."""
    def register(build):
        PLOTS[name] = PlotKind(name, title, build, across)
        return build
    return register


def metric_groups() -> set[str]:
    """The metric groups some table kind shows."""
    return {g for k in TABLES.values() for g in k.shows}


def per_suite_plots() -> list[str]:
    return [k for k, p in PLOTS.items() if not p.across]


def across_plots() -> list[str]:
    return [k for k, p in PLOTS.items() if p.across]
