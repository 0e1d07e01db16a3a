"""Default executor of the code location: every step of a run in the run's own process.

Why: runs that nobody configured — automation's Silver rebuilds (every Silver table + its checks per day), the
daily report, freshness checks, UI-launched materializations — would otherwise use the
multiprocess executor, which starts one Python process per step. Each such process re-imports
Dagster, pyarrow, deltalake and DuckDB (seconds of CPU), so on a small machine a Silver day spends
most of its time starting interpreters, and several days rebuilt at once overload it. One process
per run also keeps DuckDB file access simple (one opener per run) and lets the Silver reference
cache be shared by the steps of a run. Jobs that need something else set ``executor_def``.

``dg.in_process_executor`` is the shared singleton, so another module declaring the same default
merges without conflict (``Definitions.merge`` only refuses two *different* executors).
"""

import dagster as dg


@dg.definitions
def default_executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
