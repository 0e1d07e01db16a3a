"""The daily report on small hand-made Delta tables: the numbers, the PNGs, the asset, its automation."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
from matplotlib.image import imread

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, silver_spec
from retail_assets.contract.types import TableSpec
from retail_assets.defs.keys import REPORT_KEY, SILVER_KEYS
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.report.daily_retail_report import daily_retail_report
from retail_assets.defs.resources import RetailSettings
from retail_assets.generate.calendar import HOUR_W_WEEKDAY, HOUR_W_WEEKEND
from retail_assets.lake.delta import replace_partition, table_uri
from retail_assets.reporting.charts import CHARTS, render_all
from retail_assets.reporting.figures import collect_daily_figures, expected_by_hour
from retail_assets.reporting.markdown import report_markdown

DAY = date(2024, 1, 3)  # a Wednesday
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ts(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _filler(field: pa.Field):
    """A type-correct placeholder for columns a test does not care about."""
    t = field.type
    if pa.types.is_string(t):
        return "x"
    if pa.types.is_integer(t):
        return 0
    if pa.types.is_floating(t):
        return 0.0
    if pa.types.is_decimal(t):
        return Decimal(0)
    if pa.types.is_timestamp(t):
        return _ts(0)
    if pa.types.is_date(t):
        return DAY
    if pa.types.is_boolean(t):
        return False
    if pa.types.is_list(t):
        return []
    raise AssertionError(f"no filler for {field}")


def _rows(spec: TableSpec, rows: list[dict]) -> pa.Table:
    schema = spec.arrow_schema
    cols = {f.name: [r.get(f.name, _filler(f)) for r in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema)


def _write_silver(root: str, table: str, rows: list[dict], day: date = DAY) -> None:
    spec = silver_spec(table)
    for r in rows:
        r.setdefault("event_date", day)
        r.setdefault("event_ts", _ts(12, 0, day))
    replace_partition(table_uri(root, "ag", table), _rows(spec, rows), spec.arrow_schema, day)


def _write_events(root: str, event_type: str, landed: list[datetime], day: date = DAY) -> None:
    spec = bronze_event_spec(event_type)
    rows = [
        {
            "event_id": f"{event_type}-{i}",
            "_landed_ts": ts,
            "event_date": day,
            "ingest_timestamp": _ts(9, 0, day),
        }
        for i, ts in enumerate(landed)
    ]
    replace_partition(table_uri(root, "cusn", event_type), _rows(spec, rows), spec.arrow_schema, day)


@pytest.fixture
def lake(tmp_path) -> str:
    """A lake with one day of a few Silver and Bronze event tables, values chosen to be countable."""
    root = str(tmp_path / "lake")
    _write_silver(
        root,
        "fact_receipts",
        [
            {
                "event_ts": _ts(9, 15),
                "receipt_type": "SALE",
                "payment_method": "CASH",
                "total_cents": 1000,
                "_source": "stream",
            },
            {
                "event_ts": _ts(9, 40),
                "receipt_type": "SALE",
                "payment_method": "CREDIT_CARD",
                "total_cents": 5000,
                "_source": "stream",
            },
            {
                "event_ts": _ts(17, 5),
                "receipt_type": "SALE",
                "payment_method": "CREDIT_CARD",
                "total_cents": 2500,
                "_source": "stream",
            },
            {
                "event_ts": _ts(10, 0),
                "receipt_type": "RETURN",
                "payment_method": "CASH",
                "total_cents": -700,
                "_source": "stream",
            },
        ],
    )
    _write_silver(
        root,
        "fact_stockouts",
        [
            {"event_ts": _ts(11, 1), "location_type": "STORE", "_source": "stream"},
            {"event_ts": _ts(11, 59), "location_type": "STORE", "_source": "stream"},
            {"event_ts": _ts(20, 0), "location_type": "DC", "_source": "stream"},
        ],
    )
    _write_silver(
        root,
        "fact_reorders",
        [
            {"priority": "NORMAL", "reorder_quantity": 12, "allocated_quantity": 12, "_source": "stream"},
            {"priority": "NORMAL", "reorder_quantity": 24, "allocated_quantity": 0, "_source": "stream"},
            {"priority": "URGENT", "reorder_quantity": 6, "allocated_quantity": 6, "_source": "stream"},
        ],
    )
    _write_silver(root, "fact_promo_lines", [{"_source": "batch"}, {"_source": "batch"}])
    t0 = datetime(2026, 5, 1, 10, 0, 5, tzinfo=UTC)
    _write_events(root, "receipt_created", [t0, t0 + timedelta(seconds=30), t0 + timedelta(minutes=2)])
    _write_events(root, "stockout_detected", [t0 + timedelta(seconds=50)])
    # Another day's rows must not leak into DAY's report.
    _write_silver(
        root, "fact_receipts", [{"receipt_type": "SALE", "_source": "batch"}], day=DAY + timedelta(days=1)
    )
    _write_events(root, "receipt_created", [t0], day=DAY + timedelta(days=1))
    return root


def test_figures_count_exactly_the_rows_of_the_day(lake: str) -> None:
    f = collect_daily_figures(lake, DAY)
    assert f.sale_receipts_by_hour[9] == 2 and f.sale_receipts_by_hour[17] == 1
    assert f.sale_receipts == 3, "RETURN receipts and other days are not SALE receipts of the day"
    assert f.tender_receipts == {"CREDIT_CARD": 2, "CASH": 1}
    assert f.tender_cents == {"CREDIT_CARD": 7500, "CASH": 1000}
    assert list(f.tender_cents) == ["CREDIT_CARD", "CASH"], "tenders are ordered by revenue"
    assert f.stockouts_by_hour["STORE"][11] == 2 and f.stockouts_by_hour["DC"][20] == 1
    assert f.stockouts == 3
    assert f.reorders_by_priority == {"NORMAL": (2, 36, 12), "URGENT": (1, 6, 6)}
    starts, counts = f.events_per_minute
    assert counts.tolist() == [3, 1], "10:00 holds 3 landings (two receipts, one stockout), 10:02 one"
    assert (starts[1] - starts[0]) == 2 * 60_000_000
    assert f.events_by_type == {"receipt_created": 3, "stockout_detected": 1}
    assert f.silver_rows["fact_receipts"] == {"batch": 0, "stream": 4}
    assert f.silver_rows["fact_promo_lines"] == {"batch": 2, "stream": 0}
    assert f.silver_rows["fact_payments"] == {"batch": 0, "stream": 0}, "a missing table reads as empty"
    assert list(f.silver_rows) == list(FACT_TABLES)
    assert (f.silver_total("batch"), f.silver_total("stream")) == (2, 10)


def test_an_empty_lake_gives_an_empty_report_not_an_error(tmp_path) -> None:
    f = collect_daily_figures(str(tmp_path / "nothing"), DAY)
    assert f.sale_receipts == 0 and f.stockouts == 0 and f.reorders == 0 and f.events_streamed == 0
    pngs = render_all(f)
    assert set(pngs) == {c.name for c in CHARTS}


def test_expected_curve_follows_weekday_or_weekend_weights() -> None:
    weekday = expected_by_hour(DAY, 1000)
    saturday = expected_by_hour(date(2024, 1, 6), 1000)
    assert weekday.sum() == pytest.approx(1000) and saturday.sum() == pytest.approx(1000)
    np.testing.assert_allclose(weekday / weekday[12], HOUR_W_WEEKDAY / HOUR_W_WEEKDAY[12])
    np.testing.assert_allclose(saturday / saturday[12], HOUR_W_WEEKEND / HOUR_W_WEEKEND[12])


def test_every_chart_is_a_decodable_png(lake: str) -> None:
    pngs = render_all(collect_daily_figures(lake, DAY))
    assert list(pngs) == [c.name for c in CHARTS]
    for name, png in pngs.items():
        assert png.startswith(PNG_MAGIC), name
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 500, (name, pixels.shape)
        assert pixels[..., :3].std() > 0.01, f"{name} is blank"


def test_markdown_embeds_each_png_as_a_data_uri(lake: str) -> None:
    figures = collect_daily_figures(lake, DAY)
    pngs = render_all(figures)
    md = report_markdown(figures, pngs)
    uris = re.findall(r"!\[([a-z_]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert [name for name, _ in uris] == [c.name for c in CHARTS]
    for name, b64 in uris:
        assert base64.b64decode(b64) == pngs[name]
    assert "| 3 | 3 | 3 | 4 | 2 | 10 |" in md, "headline numbers"


def test_materializing_the_asset_writes_metadata_and_chart_files(lake: str, tmp_path) -> None:
    home = tmp_path / "home"
    result = dg.materialize(
        [daily_retail_report],
        partition_key=DAY.isoformat(),
        resources={"retail_settings": RetailSettings(home=str(home), lake_root=lake)},
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("report__daily_retail_report")
    md = mat.metadata
    assert md["sale_receipts"].value == 3
    assert md["events_streamed"].value == 4
    assert md["silver_rows_stream"].value == 10
    assert md["report"].value.count("data:image/png;base64,") == len(CHARTS)
    chart_dir = home / "reports" / DAY.isoformat()
    assert sorted(p.name for p in chart_dir.glob("*.png")) == sorted(f"{c.name}.png" for c in CHARTS)


def test_report_is_requested_only_for_the_day_whose_silver_changed() -> None:
    silver_specs = [dg.AssetSpec(k, partitions_def=daily_partitions) for k in SILVER_KEYS.values()]
    defs = dg.Definitions(
        assets=[daily_retail_report, *silver_specs], resources={"retail_settings": RetailSettings()}
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert result.get_requested_partitions(REPORT_KEY) == set(), "nothing changed yet"
    for key in SILVER_KEYS.values():
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=DAY.isoformat()))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert result.get_requested_partitions(REPORT_KEY) == {DAY.isoformat()}
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert result.get_requested_partitions(REPORT_KEY) == set(), "handled: not requested twice"
