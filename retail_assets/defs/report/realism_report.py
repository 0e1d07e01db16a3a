"""``report/realism_report``: the realism report (issue 12) of the whole lake, as asset metadata.

Not partitioned: the report judges a span of days (peak days, weekday shape, the return curve need
several), so it reads every day the lake holds in the configured range. Dagster shell only — the
metrics, references and verdicts come from ``retail_assets.reporting.realism_*`` (the same code as
``retail-assets realism``). Each metric is one metadata entry (a float, or the text
"not enough data: <why>") so the UI can plot it across materializations; the printed table is
attached as markdown. The materialization succeeds whatever the verdicts: a model outside its
references is a finding to read, not a failed run.
"""

from datetime import date

import dagster as dg

from retail_assets.defs.keys import BRONZE_BATCH_KEYS, DIM_KEYS, REALISM_KEY, REPORTS_GROUP
from retail_assets.defs.resources import RetailSettings
from retail_assets.reporting.realism_metrics import INSIDE, NOT_ENOUGH, OUTSIDE
from retail_assets.reporting.realism_report import build_report, format_table
from retail_assets.reporting.realism_sources import RELATION_COLUMNS, connect_lake

READS = [keys[name] for name in RELATION_COLUMNS for keys in (BRONZE_BATCH_KEYS, DIM_KEYS) if name in keys]


class RealismConfig(dg.Config):
    """The days to judge (empty = from the lake's first / to its last day) and where the facts come from."""

    start: str = ""
    end: str = ""
    layer: str = "bronze"


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@dg.asset(
    key=REALISM_KEY,
    group_name=REPORTS_GROUP,
    deps=READS,
    kinds={"duckdb", "delta"},
    description="Each headline metric of issue 12 (online share, CPM, out-of-stocks, fill rate, peak days, "
    "returns, shrink, footfall phase, tender by ticket, BLE share, weekday shape) against its public "
    "reference range, with a verdict per metric.",
)
def realism_report(
    context: dg.AssetExecutionContext, config: RealismConfig, retail_settings: RetailSettings
) -> dg.MaterializeResult:
    home = retail_settings.home_settings()
    report = build_report(connect_lake(home.lake_root, config.layer, _day(config.start), _day(config.end)))
    context.log.info(report.summary())
    metadata: dict[str, dg.MetadataValue] = {
        "summary": dg.MetadataValue.text(report.summary()),
        "inside": dg.MetadataValue.int(report.count(INSIDE)),
        "outside": dg.MetadataValue.int(report.count(OUTSIDE)),
        "not_enough_data": dg.MetadataValue.int(report.count(NOT_ENOUGH)),
        "days": dg.MetadataValue.int(len(report.days)),
        "report": dg.MetadataValue.md("```\n" + format_table(report) + "\n```"),
    }
    for r in report.results:
        metadata[r.key] = (
            dg.MetadataValue.float(float(r.value))
            if r.value is not None
            else dg.MetadataValue.text(f"{NOT_ENOUGH}: {r.detail}")
        )
        metadata[f"{r.key}_verdict"] = dg.MetadataValue.text(f"{r.verdict} ({r.reference.text()})")
    return dg.MaterializeResult(metadata=metadata)
