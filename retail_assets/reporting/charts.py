"""Draw the daily report's charts as PNG bytes with matplotlib's Agg canvas.

Why ``Figure`` + ``FigureCanvasAgg`` and not ``pyplot``: pyplot keeps global state and picks a GUI
backend from the environment; a Dagster run (or a sensor thread) needs neither. Each chart is a
registry entry (name, title, draw function) so the asset, the markdown and the tests iterate one
list instead of five hand-written calls.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from retail_assets.reporting.figures import SOURCES, DailyFigures

DPI = 90
SIZE = (8.0, 3.4)
COLORS = {"batch": "#4C72B0", "stream": "#DD8452", "STORE": "#4C72B0", "DC": "#C44E52"}


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_receipts_by_hour(fig: Figure, f: DailyFigures) -> None:
    ax = fig.add_subplot()
    if f.sale_receipts == 0:
        _empty(ax, "no SALE receipts in Silver for this day (is its Silver partition built?)")
        ax.set_title("Receipts by hour", fontsize=10)
        return
    hours = np.arange(24)
    ax.bar(hours, f.sale_receipts_by_hour, color=COLORS["batch"], label="SALE receipts (Silver)")
    ax.plot(
        hours,
        f.expected_sale_receipts_by_hour,
        color="#222222",
        marker="o",
        ms=3,
        label="expected curve (contract §7.1, scaled)",
    )
    ax.set_xticks(hours[::2])
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("receipts")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title(f"Receipts by hour — {f.sale_receipts:,} SALE receipts", fontsize=10)


def draw_tender_mix(fig: Figure, f: DailyFigures) -> None:
    ax = fig.add_subplot()
    if not f.tender_cents:
        _empty(ax, "no SALE receipts in Silver for this day (is its Silver partition built?)")
        ax.set_title("Tender mix", fontsize=10)
        return
    methods = list(f.tender_cents)
    total = sum(f.tender_cents.values()) or 1
    shares = [100.0 * f.tender_cents[m] / total for m in methods]
    bars = ax.barh(methods, shares, color=COLORS["batch"])
    for bar, m in zip(bars, methods, strict=True):
        ax.text(
            bar.get_width() + 0.5,
            bar.get_y() + bar.get_height() / 2,
            f"{f.tender_receipts[m]:,} receipts, ${f.tender_cents[m] / 100:,.0f}",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlim(0, max(shares) * 1.6 + 1)
    ax.set_xlabel("share of SALE revenue (%)")
    ax.set_title("Tender mix", fontsize=10)


def draw_stockouts_and_reorders(fig: Figure, f: DailyFigures) -> None:
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    hours = np.arange(24)
    bottom = np.zeros(24)
    for loc, counts in f.stockouts_by_hour.items():
        left.bar(hours, counts, bottom=bottom, color=COLORS[loc], label=loc)
        bottom = bottom + counts
    left.set_xticks(hours[::3])
    left.set_xlabel("hour of day (UTC)")
    left.set_title(f"Stockouts by hour — {f.stockouts:,}", fontsize=10)
    left.legend(fontsize=8, frameon=False)
    if f.reorders_by_priority:
        prios = list(f.reorders_by_priority)
        x = np.arange(len(prios))
        req = [f.reorders_by_priority[p][1] for p in prios]
        alloc = [f.reorders_by_priority[p][2] for p in prios]
        right.bar(x - 0.2, req, 0.4, label="requested", color="#8172B2")
        right.bar(x + 0.2, alloc, 0.4, label="allocated", color="#55A868")
        right.set_xticks(x, prios, fontsize=8)
        right.legend(fontsize=8, frameon=False)
        right.set_ylabel("units")
    else:
        _empty(right, "no reorders")
    right.set_title(f"Reorders — {f.reorders:,}", fontsize=10)


def draw_events_per_minute(fig: Figure, f: DailyFigures) -> None:
    ax = fig.add_subplot()
    starts, counts = f.events_per_minute
    if len(starts) == 0:
        _empty(ax, "no events streamed for this day (a batch day, or not streamed yet)")
        ax.set_title("Events streamed per minute", fontsize=10)
        return
    labels = [datetime.fromtimestamp(s / 1e6, UTC).strftime("%H:%M") for s in starts]
    x = np.arange(len(starts))
    ax.bar(x, counts, color=COLORS["stream"])
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], labels[::step], fontsize=8)
    ax.set_xlabel("landing minute (wall clock, UTC)")
    ax.set_ylabel("events")
    ax.set_title(
        f"Events streamed per minute — {f.events_streamed:,} events, peak {int(counts.max()):,}/min",
        fontsize=10,
    )


def draw_silver_sources(fig: Figure, f: DailyFigures) -> None:
    ax = fig.add_subplot()
    tables = list(f.silver_rows)
    y = np.arange(len(tables))
    left = np.zeros(len(tables))
    for source in SOURCES:
        values = np.array([f.silver_rows[t][source] for t in tables], dtype=float)
        ax.barh(y, values, left=left, color=COLORS[source], label=f"{source} ({f.silver_total(source):,})")
        left = left + values
    ax.set_yticks(y, [t.removeprefix("fact_") for t in tables], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("symlog")
    ax.set_xlabel("Silver rows (symlog)")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title("Silver rows by source", fontsize=10)


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    draw: Callable[[Figure, DailyFigures], None]
    height: float = SIZE[1]


CHARTS: tuple[Chart, ...] = (
    Chart("receipts_by_hour", "Receipts by hour against the expected curve", draw_receipts_by_hour),
    Chart("tender_mix", "Tender mix", draw_tender_mix),
    Chart("stockouts_and_reorders", "Stockouts and reorders", draw_stockouts_and_reorders),
    Chart("events_per_minute", "Events streamed per minute", draw_events_per_minute),
    Chart("silver_sources", "Silver rows: batch vs stream", draw_silver_sources, height=4.6),
)


def render_png(chart: Chart, figures: DailyFigures) -> bytes:
    """One chart as PNG bytes (Agg canvas, no display, no global state)."""
    fig = Figure(figsize=(SIZE[0], chart.height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    chart.draw(fig, figures)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def render_all(figures: DailyFigures) -> dict[str, bytes]:
    """Every chart of the registry, by name, in registry order."""
    return {chart.name: render_png(chart, figures) for chart in CHARTS}
