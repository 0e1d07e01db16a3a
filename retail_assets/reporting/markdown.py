"""Embed rendered charts in one markdown document the Dagster UI displays in place.

Why data URIs: the webserver's markdown renderer (react-markdown + rehype-sanitize in Dagster
1.13's UI) allows the ``data:`` protocol for image sources, so the PNGs travel inside the
materialization's metadata and need no file server; the same PNGs are also written to disk for
anyone reading the lake directly.
"""

from __future__ import annotations

import base64

from retail_assets.reporting.charts import CHARTS
from retail_assets.reporting.figures import DailyFigures


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_markdown(figures: DailyFigures, pngs: dict[str, bytes]) -> str:
    """A headline table, then each chart under its title, in registry order."""
    lines = [
        f"# Retail day {figures.day.isoformat()}",
        "",
        "| SALE receipts | stockouts | reorders | events streamed | Silver rows (batch) | Silver rows (stream) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {figures.sale_receipts:,} | {figures.stockouts:,} | {figures.reorders:,} | "
        f"{figures.events_streamed:,} | {figures.silver_total('batch'):,} | {figures.silver_total('stream'):,} |",
        "",
    ]
    for chart in CHARTS:
        if chart.name in pngs:
            lines += [f"## {chart.title}", "", f"![{chart.name}]({data_uri(pngs[chart.name])})", ""]
    return "\n".join(lines)
