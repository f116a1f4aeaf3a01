"""Tables and plots from the results store (DIR/results.csv, and for the per-epoch curves the
trial directories beside it), laid out as the suites declare (reports.layouts.SuiteReport).

    build_report(out_dir, formats=("md",), suites={name: SuiteReport}) -> Path of DIR/report/report.md

Never imports bench, methods or datasets: the store and the declarations handed in are the
whole interface; the metric registry (reports.metrics) and the store's schema live here, below
the harness that writes them.
"""
from . import metrics
from .build import FORMATS, build_report, prepare
from .paper import PUBLISHED, PUBLISHED_COST
from .stats import aggregate, summarize
from .store import ReportError, load_results

metrics.check_all()   # every builder has registered its kinds by now (reports.kinds)

__all__ = ["FORMATS", "PUBLISHED", "PUBLISHED_COST", "ReportError", "aggregate", "build_report",
           "load_results", "prepare", "summarize"]
