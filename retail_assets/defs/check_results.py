"""The one converter from ``retail_assets.checks.result.CheckResult`` to Dagster's check events.

An asset (or ``multi_asset_check``) yields ``dg.AssetCheckResult``; an op that reports checks of an
asset it does not own (the ``stream_outbox`` run reporting the outbox checks) logs
``dg.AssetCheckEvaluation``. Both take the same fields, built once here.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from retail_assets.checks.result import CheckResult, Severity

DESCRIPTION_LIMIT = 2000


def _metadata(result: CheckResult, extra: dict[str, Any] | None) -> dict[str, Any]:
    values = result.findings.with_values(**extra) if extra else result.findings

    def convert(v: Any) -> Any:
        if isinstance(v, list | dict):
            return dg.MetadataValue.json(v)
        return dg.MetadataValue.null() if v is None else v

    return {k: convert(v) for k, v in values.items()}


def _fields(result: CheckResult, key: dg.AssetKey, advice: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    description = result.description[: DESCRIPTION_LIMIT - len(advice)] + advice
    return {
        "asset_key": key,
        "check_name": result.name,
        "passed": result.passed,
        "severity": dg.AssetCheckSeverity.ERROR if result.severity is Severity.ERROR else dg.AssetCheckSeverity.WARN,
        "description": description,
        "metadata": _metadata(result, extra),
    }


def to_asset_check_result(
    result: CheckResult, key: dg.AssetKey, advice: str = "", extra: dict[str, Any] | None = None
) -> dg.AssetCheckResult:
    """``advice`` is appended to the description (kept within Dagster's limit); ``extra`` adds findings."""
    return dg.AssetCheckResult(**_fields(result, key, advice, extra))


def to_asset_check_evaluation(
    result: CheckResult,
    key: dg.AssetKey,
    advice: str = "",
    extra: dict[str, Any] | None = None,
    partition: str | None = None,
    blocking: bool | None = None,
) -> dg.AssetCheckEvaluation:
    """``partition``: the day a partitioned check judged (an evaluation logged outside the step's own
    partition context, e.g. one of many days in a range run); ``blocking``: the spec's flag."""
    return dg.AssetCheckEvaluation(**_fields(result, key, advice, extra), partition=partition, blocking=blocking)
