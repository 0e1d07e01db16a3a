"""``retail-assets realism`` and the ``report/realism_report`` asset over a real (small) Delta lake."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from retail_assets import pipeline
from retail_assets.cli import main
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.defs.report.realism_report import RealismConfig, realism_report
from retail_assets.defs.resources import RetailSettings
from retail_assets.reporting.realism_metrics import METRIC_GROUPS

DAYS = (date(2024, 1, 1), date(2024, 1, 2))


@pytest.fixture
def small_lake(retail_env: HomeSettings, dataset_settings: DatasetSettings) -> HomeSettings:
    """Two batch days of the test dataset (sf 0.01) in Bronze, through the real pipeline."""
    pipeline.build_and_write_dimensions(retail_env, dataset_settings)
    for day in DAYS:
        pipeline.generate_and_write_day(retail_env, dataset_settings, day, "batch", "realism-test")
    return retail_env


def _line(out: str, label: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(label))


def test_an_empty_lake_prints_not_enough_data_and_exits_2(retail_env, capsys):
    assert main(["realism"]) == 2
    out = capsys.readouterr().out
    assert "not enough data" in _line(out, "online share of sales")
    assert "no days with sales: 0 inside" in out


def test_a_reversed_range_is_refused_with_the_fix(retail_env, capsys):
    assert main(["realism", "--from", "2024-02-01", "--to", "2024-01-01"]) == 2
    assert "swap them" in capsys.readouterr().err


def test_a_bad_date_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["realism", "--from", "01/02/2024"])
    assert exc.value.code == 2


def test_the_report_reads_the_lake_and_the_range(small_lake, capsys):
    assert main(["realism"]) == 2  # two January days cannot judge the peak days, whatever the model
    out = capsys.readouterr().out
    assert f"{DAYS[0]} … {DAYS[1]} (2 days with sales)" in out
    assert "not enough data" in _line(out, "Dec 23 / normal same weekday")
    for label in ("online share of sales", "BLE-detected share of visits", "DC→store fill rate"):
        line = _line(out, label)  # measured from the Bronze tables and judged
        assert "—" not in line and ("inside" in line or "outside" in line), line
    assert main(["realism", "--from", "2024-01-02", "--to", "2024-01-02"]) == 2
    assert "2024-01-02 … 2024-01-02 (1 days with sales)" in capsys.readouterr().out
    # Silver was never built: every fact reads as empty there, which the report says instead of failing
    assert main(["realism", "--layer", "silver"]) == 2
    assert "not enough data" in _line(capsys.readouterr().out, "online share of sales")


def test_the_asset_records_every_metric_as_metadata(small_lake):
    result = dg.materialize(
        [realism_report],
        resources={
            "retail_settings": RetailSettings(home=str(small_lake.home), lake_root=small_lake.lake_root)
        },
        run_config=dg.RunConfig(
            {"report__realism_report": RealismConfig(start="2024-01-01", end="2024-01-02")}
        ),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("report__realism_report")
    meta = mat.metadata
    assert meta["days"].value == 2
    assert isinstance(meta["online_share_of_sales"].value, float)
    assert meta["online_share_of_sales_verdict"].value.startswith(("inside", "outside"))
    assert meta["peak_dec_23"].value.startswith("not enough data")
    n_metrics = meta["inside"].value + meta["outside"].value + meta["not_enough_data"].value
    assert n_metrics == sum(1 for k in meta if k.endswith("_verdict")) and n_metrics > len(METRIC_GROUPS)
