"""Asset checks of the outbox ``state/streaming_outbox``: ``no_dead_letters`` and ``backlog_not_stale``.

Declared on the external outbox spec so they show on its Checks tab. Every ``stream_outbox`` run
reports their evaluations (``outbox_check_evaluations``) after it drained, so the tab follows the
stream; the checks can also be executed on their own from the UI, which reads the status without
waiting on a lock (the snapshot while a stream holds the file). The rules live in
``retail_assets.streaming.health``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg

from retail_assets.defs.check_results import to_asset_check_evaluation, to_asset_check_result
from retail_assets.defs.keys import OUTBOX_KEY
from retail_assets.defs.resources import RetailSettings
from retail_assets.streaming.health import OUTBOX_RULES, RULE_DESCRIPTIONS, evaluate_outbox

OUTBOX_CHECK_NAMES = tuple(RULE_DESCRIPTIONS)
OUTBOX_CHECK_SPECS = [
    dg.AssetCheckSpec(name=name, asset=OUTBOX_KEY, description=RULE_DESCRIPTIONS[name]) for name in OUTBOX_CHECK_NAMES
]
assert len(OUTBOX_CHECK_NAMES) == len(OUTBOX_RULES)


def outbox_check_evaluations(status: dict[str, Any]) -> list[dg.AssetCheckEvaluation]:
    """The checks' evaluations for a status summary, as events a run can log."""
    return [to_asset_check_evaluation(v, OUTBOX_KEY) for v in evaluate_outbox(status)]


@dg.multi_asset_check(specs=OUTBOX_CHECK_SPECS, description="Evaluate the outbox health rules now.")
def outbox_checks(retail_settings: RetailSettings) -> Iterator[dg.AssetCheckResult]:
    from retail_assets.streaming.status import read_status

    status = read_status(retail_settings.home_settings().state_dir, lock_attempts=1)
    if status.get("source") == "corrupt":
        raise dg.Failure(description=status["error"])
    if status.get("source") == "unavailable":
        raise dg.Failure(
            description=f"the outbox {status['database']} is locked by a running stream and no status snapshot "
            "exists yet; execute the checks again when that run has published its first batch."
        )
    for v in evaluate_outbox(status):
        source = {"status_source": status.get("source", ""), "status_stale": bool(status.get("stale", False))}
        yield to_asset_check_result(v, OUTBOX_KEY, extra=source)
