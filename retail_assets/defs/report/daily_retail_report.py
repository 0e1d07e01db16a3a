"""``report/daily_retail_report``: one day of the lake as charts inside the materialization.

Dagster shell only: the numbers come from ``reporting.figures``, the pictures from
``reporting.charts``. The charts go into the metadata as one markdown document with embedded PNGs
(the UI shows them under the materialization's "report" entry) and are also written as files
under ``RETAIL_ASSETS_HOME/reports/<day>/`` for people who read the lake without the UI. The
headline numbers are plain metadata so the UI can plot them across partitions.

The report of a day is rebuilt by automation after that day's Silver partitions change (the
streaming path's days) — the same per-partition condition the Silver assets use, evaluated by a
sensor of its own so it runs without anyone clicking.
"""

from datetime import date
from pathlib import Path

import dagster as dg

from retail_assets.defs.keys import REPORT_KEY, REPORTS_GROUP, SILVER_KEYS
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings
from retail_assets.reporting.figures import collect_daily_figures

REPORT_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("a Silver partition of the day changed")


def write_chart_files(directory: Path, pngs: dict[str, bytes]) -> dict[str, Path]:
    """Write each PNG as ``<name>.png`` (replacing older ones) and return the paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, png in pngs.items():
        path = directory / f"{name}.png"
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(png)
        tmp.replace(path)
        paths[name] = path
    return paths


@dg.asset(
    key=REPORT_KEY,
    partitions_def=daily_partitions,
    group_name=REPORTS_GROUP,
    deps=list(SILVER_KEYS.values()),
    kinds={"matplotlib", "delta"},
    automation_condition=REPORT_CONDITION,
    description="Charts of one retail day: receipts by hour against the expected curve, tender mix, "
    "stockouts and reorders, events streamed per minute, Silver rows by source.",
)
def daily_retail_report(
    context: dg.AssetExecutionContext, retail_settings: RetailSettings
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    home = retail_settings.home_settings()
    figures = collect_daily_figures(home.lake_root, day)
    # matplotlib (about a second to import) is loaded by report runs only, not by every run and tick
    from retail_assets.reporting.charts import render_all
    from retail_assets.reporting.markdown import report_markdown

    pngs = render_all(figures)
    paths = write_chart_files(home.home / "reports" / day.isoformat(), pngs)
    context.log.info(
        f"report {day}: {figures.sale_receipts} SALE receipts, {figures.events_streamed} events streamed, "
        f"{len(pngs)} charts written to {paths[next(iter(paths))].parent}"
    )
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(report_markdown(figures, pngs)),
            "sale_receipts": dg.MetadataValue.int(figures.sale_receipts),
            "stockouts": dg.MetadataValue.int(figures.stockouts),
            "reorders": dg.MetadataValue.int(figures.reorders),
            "events_streamed": dg.MetadataValue.int(figures.events_streamed),
            "silver_rows_batch": dg.MetadataValue.int(figures.silver_total("batch")),
            "silver_rows_stream": dg.MetadataValue.int(figures.silver_total("stream")),
            "chart_dir": dg.MetadataValue.path(str(paths[next(iter(paths))].parent)),
        }
    )


report_automation_sensor = dg.AutomationConditionSensorDefinition(
    "report_automation_sensor",
    target=dg.AssetSelection.assets(REPORT_KEY),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds a day's report after that day's Silver partitions changed.",
)
