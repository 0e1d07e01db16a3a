"""One check-result type for the Silver checks and the outbox health rules, one converter to Dagster."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pytest

from retail_assets.checks.result import CheckResult, Findings, Severity
from retail_assets.defs.check_results import (
    DESCRIPTION_LIMIT,
    to_asset_check_evaluation,
    to_asset_check_result,
)
from retail_assets.silver import checks as silver_checks
from retail_assets.streaming.health import evaluate_outbox

KEY = dg.AssetKey(["ag", "fact_receipts"])


def test_silver_and_outbox_health_share_the_result_type() -> None:
    assert silver_checks.CheckResult is CheckResult and silver_checks.Severity is Severity
    status = {"pending": 0, "leased": 0, "dead": 1, "by_event_type": {"receipt_created": {"dead": 1}},
              "dead_letters": [{"event_id": "e1", "event_type": "receipt_created", "last_error": "boom"}]}
    verdicts = evaluate_outbox(status)
    assert all(isinstance(v, CheckResult) and isinstance(v.findings, Findings) for v in verdicts)
    dead = next(v for v in verdicts if v.name == "no_dead_letters")
    assert not dead.passed and dead.severity is Severity.ERROR and dead.findings["dead"] == 1


@pytest.mark.parametrize("bad", [date(2024, 1, 1), Severity.WARN, np.int64(3), {1: "x"}, [object()]])
def test_findings_refuse_what_dagster_could_not_show_naming_the_key(bad) -> None:
    with pytest.raises(TypeError, match="'offending'"):
        CheckResult("money", False, Severity.ERROR, "x", {"offending": bad})


def test_blocking_is_part_of_the_result() -> None:
    failed = CheckResult("schema_equality", False, "ERROR", "mismatch", blocking=True)
    assert failed.severity is Severity.ERROR and failed.blocks_commit
    assert not CheckResult("money", False, Severity.ERROR, "x").blocks_commit
    assert not CheckResult("schema_equality", False, Severity.WARN, "x", blocking=True).blocks_commit


def test_one_converter_for_results_and_run_evaluations() -> None:
    result = CheckResult(
        "money", False, Severity.WARN, "d" * 3000, {"violations": 2, "offending_keys": ["a", "b"], "note": None}
    )
    converted = to_asset_check_result(result, KEY, advice=" Fix: re-run.", extra={"status_source": "outbox"})
    assert isinstance(converted, dg.AssetCheckResult)
    assert converted.severity is dg.AssetCheckSeverity.WARN and converted.passed is False
    assert len(converted.description) == DESCRIPTION_LIMIT and converted.description.endswith(" Fix: re-run.")
    assert converted.metadata["offending_keys"] == dg.MetadataValue.json(["a", "b"])
    assert converted.metadata["violations"] == dg.MetadataValue.int(2)
    assert converted.metadata["status_source"] == dg.MetadataValue.text("outbox")
    evaluation = to_asset_check_evaluation(result, KEY)
    assert isinstance(evaluation, dg.AssetCheckEvaluation) and evaluation.check_name == "money"
    assert evaluation.metadata["offending_keys"] == converted.metadata["offending_keys"]
