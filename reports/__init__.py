"""Tables and plots from the results store (DIR/results.csv) only.

    build_report(out_dir, formats=("md",)) -> Path of DIR/report/report.md

Never imports bench, methods or datasets: the store's CSV is the whole interface.
"""
from .build import FORMATS, build_report, prepare
from .paper import PUBLISHED, PUBLISHED_COST
from .stats import aggregate, summarize
from .store import ReportError, load_results

__all__ = ["FORMATS", "PUBLISHED", "PUBLISHED_COST", "ReportError", "aggregate", "build_report",
           "load_results", "prepare", "summarize"]
