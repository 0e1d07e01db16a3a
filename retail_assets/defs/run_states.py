"""Run statuses that mean "this run may still change data" — what a sensor must wait for.

Shared by the sensors that launch one run at a time per subject (``outbox_sensor``: one streaming
run; ``silver_day_sensor``: one Silver run per day), so both agree on what "in flight" means.
"""

import dagster as dg

IN_FLIGHT: list[dg.DagsterRunStatus] = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
