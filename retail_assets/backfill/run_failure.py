"""What ``retail-assets backfill`` prints for a run that failed: the cause, not Dagster's wrapping.

Why one function for both backfills (one run over a range, one sharded run per day): a generation
step refuses a day with a ``dg.Failure`` whose description names the cause and the fix; the error
message around it starts with the exception's class path (``dagster._core.definitions.events.Failure:``).
Any other exception keeps its message whole, class name included. A run that failed with no failed
step (an interrupt) says so by its own failure event.
"""

from __future__ import annotations

import dagster as dg


def failure_text(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult) -> str:
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            messages.append(data.user_failure_data.description.strip())
        elif data.error is not None:
            messages.append(data.error.message.strip())
    if not messages:
        failures = result.filter_events(lambda event: event.event_type == dg.DagsterEventType.RUN_FAILURE)
        messages = [event.message for event in failures if event.message]
    return " | ".join(messages) or "see the run in the UI"
