"""How each suite is reported, as data: a suite declares a ``SuiteReport`` (bench.sweep.suites) and
the report loops over the declarations it is given. Adding a suite, a variant or a table of
an existing kind needs no edit here.

A ``SuiteReport`` names the suite's section title, how its grid tables are cut (``columns``,
one of COLUMNS), which tables and plots it has (kinds of reports.kinds), which of the paper's
tables its numbers are set beside (``paper_tables``: sources of reports.paper.PUBLISHED), in
which profile (``published_profile``: its rows get the published rows and costs), which of the
paper's rows each of its row labels is (``paper_rows``), and each row's protocol in that profile
(``protocols``: its settings, which reports.protocols compares with a published row's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from . import kinds
from .render import fmt_ratio


@dataclass(frozen=True)
class SuiteReport:
    title: str
    columns: str = "corruption"
    tables: tuple = ("grid", "shots", "diagnostics", "tuned")   # table kinds (reports.kinds), in the order shown
    plots: tuple = ()                                  # plot kinds (the cross-suite ones are always drawn)
    paper_tables: tuple = ()
    paper_rows: dict = field(default_factory=dict)   # row label -> the paper's row name
    rows: tuple = ()                                 # row labels in the order shown (others after)
    protocols: dict = field(default_factory=dict)    # row label -> its paper-profile settings (protocols.KEYS)
    published_profile: str = "paper"   # the profile whose rows are set beside the paper's published numbers

    def beside_paper(self, profile: str) -> bool:
        """Whether rows of ``profile`` are shown beside the paper's numbers (published rows, cost)."""
        return profile == self.published_profile

    def paper_row(self, r) -> str | None:
        """The paper's row name for an aggregate row of this suite (by its declared label)."""
        return self.paper_rows.get(r["variant"] or r["method"])

    def protocol(self, r) -> dict | None:
        """The paper-profile settings of an aggregate row of this suite (by its declared label)."""
        return self.protocols.get(r["variant"] or r["method"])

    def __post_init__(self):
        bad = ([self.columns] if self.columns not in COLUMNS else []) + \
              [t for t in self.tables if t not in kinds.TABLES] + \
              [p for p in self.plots if p not in kinds.per_suite_plots()]
        if bad:
            raise ValueError(f"report of {self.title!r}: unknown {', '.join(map(str, bad))}")


def generic(suite: str) -> SuiteReport:
    """The report of a suite nobody declared: one column per corruption."""
    return SuiteReport(title=suite)


@dataclass(frozen=True)
class Part:
    """One table's share of a suite's rows (a noise family, a corruption, or all)."""
    name: str
    frame: pd.DataFrame

    @property
    def balanced(self) -> bool:
        return sorted(set(self.frame["imbalance_ratio"])) == [1.0]


@dataclass(frozen=True)
class Columns:
    """How a suite's grid tables are cut: ``split`` the rows into tables ("family": one per noise
    type, clean trials in each; "corruption"; "": one), ``key`` a row's column (sortable),
    ``name`` a column's header from one of its rows, ``title`` the table's title suffix and
    ``row_extra`` a second row key (None: rows are the labels)."""
    row_header: str
    split: str
    key: Callable
    name: Callable
    title: Callable = lambda part: ""
    row_extra: Callable | None = None

    def parts(self, g: pd.DataFrame) -> list[Part]:
        if self.split == "family":
            fams = sorted(set(g["noise_type"]) - {"none"}) or ["none"]
            return [Part(f, g[g["noise_type"].isin([f, "none"])]) for f in fams]
        if self.split == "corruption":
            return [Part(c, t) for c, t in g.groupby("corruption", sort=True)]
        return [Part("", g)]


def _reward_key(r) -> tuple:
    size = r["reward_size"]
    return size == "?", int(size) if size not in ("", "?") else 0


COLUMNS = {
    "noise_ratio": Columns(
        "method \\ noise ratio", "family",
        key=lambda r: (float(r["imbalance_ratio"]), float(r["noise_ratio"])),
        name=lambda r, part: fmt_ratio(r["noise_ratio"]) if part.balanced else
        f"{fmt_ratio(r['noise_ratio'])} @ imb {fmt_ratio(r['imbalance_ratio'])}",
        title=lambda part: f" / {part.name} noise" + ("" if part.balanced else " (with long tail)")),
    "imbalance": Columns(
        "method \\ imbalance", "family",
        key=lambda r: (-float(r["imbalance_ratio"]), float(r["noise_ratio"])),
        name=lambda r, part: fmt_ratio(r["imbalance_ratio"]) if part.name == "none" else
        f"{fmt_ratio(r['imbalance_ratio'])} @ noise {fmt_ratio(r['noise_ratio'])}",
        title=lambda part: "" if part.name == "none" else f" / with {part.name} noise"),
    "imbalance_by_noise": Columns(
        "method, noise \\ imbalance", "family", key=lambda r: float(r["imbalance_ratio"]),
        name=lambda r, part: fmt_ratio(r["imbalance_ratio"]), title=lambda part: f" / {part.name} noise",
        row_extra=lambda r: float(r["noise_ratio"])),
    "reward_size": Columns(
        "method \\ reward set size", "corruption", key=_reward_key,
        name=lambda r, part: "?" if _reward_key(r)[0] else str(_reward_key(r)[1]),
        title=lambda part: f" / {part.name}"),
    "corruption": Columns(
        "method \\ corruption", "",
        key=lambda r: (float(r["imbalance_ratio"]), r["noise_type"], float(r["noise_ratio"]), r["corruption"]),
        name=lambda r, part: r["corruption"]),
}
