"""``outbox_sensor``: starts ``stream_outbox`` when no streaming run is queued or running.

Stopped by default (switch it on in the UI). Order of checks matters for the process model: the
in-flight check comes first and needs only the Dagster instance, so the sensor never touches the
outbox file while a run holds it; reading the outbox then uses a single non-retrying read-only
open, and a lock (a CLI ``stream`` in another process) is a skip with a reason, never a failure.
Every tick that can read the outbox reports an observation, so the UI charts the backlog.

Whether a run has anything to do is the streaming policy's decision (``streaming/policy.py``, the same
one the run itself applies): a run is launched to drain open events or to generate the next day;
otherwise the skip reason is the policy's sentence — DEAD events blocking the next day (with the day,
its counts and the fix), the stream end reached (and how to extend it), caught up with today, or the
disk guard (free vs needed).
"""

from __future__ import annotations

import dagster as dg

from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.run_states import IN_FLIGHT
from retail_assets.defs.streaming.assets import STREAMING_TAG, outbox_observation
from retail_assets.defs.streaming.jobs import stream_outbox


@dg.sensor(
    job=stream_outbox,
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=30,
    description="Launches one bounded streaming run at a time; skips (with a reason) otherwise.",
)
def outbox_sensor(context: dg.SensorEvaluationContext, retail_settings: RetailSettings) -> dg.SensorResult | dg.SkipReason:
    from retail_assets.streaming.policy import verdict_from_status
    from retail_assets.streaming.status import read_status

    records = context.instance.get_run_records(
        dg.RunsFilter(job_name=stream_outbox.name, statuses=IN_FLIGHT), limit=1
    )
    if records:
        run = records[0].dagster_run
        return dg.SkipReason(
            f"streaming run {run.run_id} is {run.status.value}; at most one streaming run at a time "
            "(the next tick launches when it has finished)."
        )
    home = retail_settings.home_settings()
    status = read_status(home.state_dir, lock_attempts=1)
    if status["source"] == "corrupt":  # a run would only fail on it: say why and how to restore
        return dg.SkipReason(status["error"])
    if status["source"] in ("snapshot", "unavailable"):
        return dg.SkipReason(
            f"the outbox {status['database']} is locked by another process (a `retail-assets stream` "
            "outside Dagster?); skipping this tick without waiting."
        )
    observation = outbox_observation(status, "outbox_sensor")
    try:
        verdict = verdict_from_status(home, retail_settings.dataset(whole_day=False), status)
    except (ValueError, RuntimeError) as exc:  # a bad RETAIL_ASSETS_STREAM_UNTIL, a damaged ledger: the message has the fix
        return dg.SensorResult(skip_reason=f"cannot decide what to stream: {exc}", asset_events=[observation])
    if verdict.kind not in ("draining", "generate"):
        return dg.SensorResult(skip_reason=verdict.reason, asset_events=[observation])
    why = verdict.reason if verdict.kind == "draining" else f"generate and stream {verdict.next_day.isoformat()}"
    return dg.SensorResult(
        run_requests=[dg.RunRequest(tags={**STREAMING_TAG, "retail_assets/reason": why[:60]})],
        asset_events=[observation],
    )

