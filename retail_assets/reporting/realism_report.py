"""The realism report: every metric of ``realism_metrics`` with its reference and verdict, as text.

Why the text and the exit code live here (not in the CLI): the CLI, the Dagster asset and the saved
report of a model (docs/realism_*.txt) must print the same table and judge it the same way.
Exit code: 0 when every metric is inside its range, 2 otherwise (outside, or not enough data —
a report that could not judge a metric has not shown the model to be realistic).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from retail_assets.reporting.realism_metrics import (
    INSIDE,
    METRIC_GROUPS,
    NOT_ENOUGH,
    OUTSIDE,
    Context,
    MetricResult,
)
from retail_assets.reporting.realism_references import format_in_unit
from retail_assets.reporting.realism_sources import days_held

EXIT_ALL_INSIDE = 0
EXIT_NOT_ALL_INSIDE = 2


@dataclass(frozen=True)
class RealismReport:
    days: tuple[date, ...]
    results: tuple[MetricResult, ...]

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def exit_code(self) -> int:
        return EXIT_ALL_INSIDE if self.count(INSIDE) == len(self.results) else EXIT_NOT_ALL_INSIDE

    def summary(self) -> str:
        span = (
            f"{self.days[0]} … {self.days[-1]} ({len(self.days)} days with sales)"
            if self.days
            else "no days with sales"
        )
        return (
            f"{span}: {self.count(INSIDE)} inside, {self.count(OUTSIDE)} outside, "
            f"{self.count(NOT_ENOUGH)} not enough data, of {len(self.results)} metrics"
        )


def build_report(conn: duckdb.DuckDBPyConnection) -> RealismReport:
    """Run every metric over the connection's relations (see ``realism_sources``)."""
    ctx = Context(conn, tuple(days_held(conn)))
    results: list[MetricResult] = []
    for group in METRIC_GROUPS:
        results.extend(group(ctx))
    return RealismReport(ctx.days, tuple(results))


def format_value(result: MetricResult) -> str:
    return "—" if result.value is None else format_in_unit(result.value, result.reference.unit)


def format_table(report: RealismReport, with_sources: bool = True) -> str:
    """A fixed-width table (one metric a line), then the summary and the numbered sources."""
    sources: list[str] = []
    rows = []
    for r in report.results:
        if r.reference.source not in sources:
            sources.append(r.reference.source)
        ref = sources.index(r.reference.source) + 1
        rows.append((r.label, format_value(r), r.reference.text(), r.verdict, f"[{ref}]", r.detail))
    header = ("metric", "value", "reference", "verdict", "src", "detail")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)).rstrip()
        for row in [header, (*tuple("-" * w for w in widths), ""), *rows]
    ]
    lines.append("")
    lines.append(report.summary())
    if with_sources:
        lines.append("")
        lines.extend(f"[{i}] {s}" for i, s in enumerate(sources, 1))
    return "\n".join(lines)
