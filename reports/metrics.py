"""Every metric, declared once: its name, who produces it, how it is stored, aggregated and shown.

The harness (bench.trial.harness) takes the "epoch" metrics from a trial's last epoch line, the store
(reports.schema) has a column per stored metric, the aggregate (reports.stats) summarises the
"mean" ones per cell, and the report's tables (reports.tables) show each metric in the tables
it names. Adding a metric is one ``declare(Metric(...))`` plus its computation: the harness's
result, or a method's ``on_epoch_end`` dict (``source="epoch"``).

A metric that only some suites measure may live in the row's ``extra`` JSON instead of a column
of its own (``column=False``; the top-5 accuracies of WebVision): the store's header, and so
every store written before it, stays as it is, and the report reads the value from ``extra``
(reports.store) as if it were a column.

It lives in ``reports`` because reports may import nothing above it; bench reads it.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import kinds


@dataclass(frozen=True)
class Metric:
    name: str
    label: str                    # the column header or axis label
    producer: str = "harness"     # "harness" (every trial) or "method" (only the methods that return it)
    source: str = "result"        # "result": in the harness's final result; "epoch": the last epoch line's
    aggregate: str | None = "mean"  # "mean": mean, std and 95% CI over seeds per cell; None: stored only
    tables: tuple = ()            # the metric groups it is in: the table kinds that show it (reports.kinds)
    scale: float = 100.0          # shown as value * scale (fractions in %)
    digits: int = 2
    suffix: str = ""
    ratio_of: str | None = None   # derived in the report: this metric of a trial over plain softmax's
    grid_title: str = ""          # with "grid" in tables: the title of its own table per suite layout
    curve: bool = False           # also a per-epoch value of the epoch lines, drawn as a curve
    column: bool = True           # a column of results.csv; False: a key of the row's ``extra`` JSON

    @property
    def stored(self) -> bool:
        """Kept in results.csv: a column, or a key of ``extra`` (derived ratios are computed by the report)."""
        return self.ratio_of is None

    def __post_init__(self):
        if self.producer not in ("harness", "method") or self.source not in ("result", "epoch"):
            raise ValueError(f"metric {self.name}: producer must be harness or method, source result or epoch")

    def check(self) -> None:
        """Every metric group it names is shown by a table kind (once the kinds are registered)."""
        unknown = set(self.tables) - kinds.metric_groups()
        if unknown:
            raise ValueError(f"metric {self.name}: unknown table kinds {unknown} "
                             f"(known: {', '.join(sorted(kinds.metric_groups()))})")


METRICS: list[Metric] = [
    Metric("test_acc", "test acc", tables=("grid",), grid_title="Test accuracy (%)", curve=True),
    Metric("test_top5", "test top-5 acc", source="epoch", tables=("grid",), grid_title="Top-5 test accuracy (%)",
           column=False),
    Metric("best_acc", "best test acc"),
    Metric("raw_test_acc", "test acc without the EMA"),
    Metric("raw_best_acc", "best test acc without the EMA"),
    Metric("imagenet_acc", "ImageNet val acc", tables=("grid",), grid_title="ImageNet validation accuracy (%)"),
    Metric("imagenet_top5", "ImageNet val top-5 acc", tables=("grid",),
           grid_title="ImageNet validation top-5 accuracy (%)", column=False),
    Metric("realized_noise", "realised noise"),
    Metric("dict_purity", "dict purity", producer="method", source="epoch", tables=("diagnostics",), curve=True),
    Metric("zero_weight_ratio", "zero-weight ratio", producer="method", tables=("diagnostics",), curve=True),
    Metric("weight_purity", "weight purity", producer="method", tables=("diagnostics",)),
    Metric("weight_auroc", "weight AUROC", producer="method", tables=("diagnostics",)),
    Metric("clean_weight", "mean weight of clean samples", producer="method", scale=1.0, digits=4),
    Metric("noisy_weight", "mean weight of noisy samples", producer="method", scale=1.0, digits=4),
    Metric("many_acc", "many-shot", tables=("shots",)),
    Metric("medium_acc", "medium-shot", tables=("shots",)),
    Metric("few_acc", "few-shot", tables=("shots",)),
    Metric("step_time_s", "step ms", tables=("cost_absolute",), scale=1000.0, digits=1),
    Metric("step_time_iqr_s", "step time IQR (s)", aggregate=None, scale=1.0, digits=4),
    Metric("peak_mem_mb", "peak MB", tables=("cost_absolute",), scale=1.0, digits=0),
    Metric("step_time_ratio", "time", tables=("cost_ratio",), scale=1.0, suffix="×", ratio_of="step_time_s"),
    Metric("peak_mem_ratio", "memory", tables=("cost_ratio",), scale=1.0, suffix="×", ratio_of="peak_mem_mb"),
    Metric("wall_s", "wall time (s)", scale=1.0, digits=1),
    # a tuned configuration's search cost (bench tune), in its row's extra
    Metric("tune_cost_epochs", "tuning cost (trial-epochs)", tables=("tuned",), scale=1.0, digits=0, column=False),
]


def declare(metric: Metric) -> Metric:
    """Add (or replace, by name) a metric; every later store, aggregate and report sees it."""
    metric.check()
    withdraw(metric.name)
    METRICS.append(metric)
    return metric


def check_all() -> None:
    """Every metric's table kinds exist (reports.kinds), once the builders have registered them."""
    for m in METRICS:
        m.check()


def withdraw(name: str) -> None:
    METRICS[:] = [m for m in METRICS if m.name != name]


def get(name: str) -> Metric:
    return next(m for m in METRICS if m.name == name)


def stored() -> list[str]:
    return [m.name for m in METRICS if m.stored]


def columns() -> list[str]:
    """The stored metrics with a column of their own in results.csv."""
    return [m.name for m in METRICS if m.stored and m.column]


def in_extra() -> list[str]:
    """The stored metrics kept in the row's ``extra`` JSON."""
    return [m.name for m in METRICS if m.stored and not m.column]


def aggregated() -> list[str]:
    return [m.name for m in METRICS if m.aggregate == "mean"]


def in_table(kind: str) -> list[Metric]:
    return [m for m in METRICS if kind in m.tables]
