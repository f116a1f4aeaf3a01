"""A table as plain data (header, rows of cell strings, which cells are bold, which rows are the
paper's published numbers), rendered as Markdown or LaTeX; and the cell formats."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import metrics

DASH = "—"


def fmt_ratio(x: float) -> str:
    return f"{x:g}" if x != int(x) else f"{int(x)}"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bold: set = field(default_factory=set)          # (row index, column index)
    published: set = field(default_factory=set)     # row indices holding published numbers
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.header) + " |",
               "|" + "|".join(["---"] + [":-:"] * (len(self.header) - 1)) + "|"]
        for i, row in enumerate(self.rows):
            cells = []
            for j, c in enumerate(row):
                if (i, j) in self.bold:
                    c = f"**{c}**"
                elif i in self.published and j > 0 and c != DASH:
                    c = f"*{c}*"
                cells.append(c.replace("|", "\\|"))
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [f"{n}  " for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def to_latex(self) -> str:
        cols = "l" + "c" * (len(self.header) - 1)
        out = [r"\begin{table}[ht]", r"\centering", r"\small",
               rf"\caption{{{tex_escape(self.title)}}}", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
               " & ".join(tex_escape(h) for h in self.header) + r" \\", r"\midrule"]
        for i, row in enumerate(self.rows):
            cells = []
            for j, c in enumerate(row):
                c = tex_escape(c)
                if (i, j) in self.bold:
                    c = rf"\textbf{{{c}}}"
                elif i in self.published and j > 0 and c != "--":
                    c = rf"\textit{{{c}}}"
                cells.append(c)
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out.append(r"\par\smallskip\footnotesize " + r" \\ ".join(tex_escape(n) for n in self.notes))
        out += [r"\end{table}", ""]
        return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "—": "--", "×": r"$\times$", "≥": r"$\geq$", "*": r"$^*$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


# --------------------------------------------------------------------------- cell formatting
def fmt_cell(r, metric: str) -> str:
    """'mean ± std (n=k)' in the metric's scale, digits and suffix (reports.metrics);
    '— (n=0, 1 failed)' where every trial failed; failures counted."""
    m = metrics.get(metric)
    scale, digits, suffix = m.scale, m.digits, m.suffix
    n, mean, std = int(r[f"{metric}_n"]), r[f"{metric}_mean"], r[f"{metric}_std"]
    failed = int(r["n_failed"])
    dup = str(r.get("dup_seeds", "") or "")
    count = f"n={n}" + (f", {failed} failed" if failed else "") + (f", seed {dup} twice" if dup else "")
    if n == 0:
        return f"{DASH} ({count})"
    text = f"{mean * scale:.{digits}f}{suffix}"
    if n >= 2:
        text += f" ± {std * scale:.{digits}f}"
    return f"{text} ({count})"


def fmt_ci(r, metric: str) -> str:
    scale, digits = metrics.get(metric).scale, metrics.get(metric).digits
    lo, hi = r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return DASH
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"
