"""Dagster's PostgreSQL storage, holding its connections open in every process that loads the instance.

Why: dagster-postgres opens a new database connection for every statement outside the webserver
(SQLAlchemy ``NullPool``), and a PostgreSQL connection costs a server process fork plus a SCRAM
password exchange, about 5 ms on loopback and more across a network. A run stores each event with
two to five statements (the run's event row, its copy in the asset index, the check-execution row,
…), so a Silver day's ~315 events paid ~30 ms each: a day on PostgreSQL took 9.7 s in process
against 4.5 s on the SQLite files, for 1.5 s of compute (``bench/bench_silver_dagster.py
--instance postgres``). The webserver already avoids this: Dagster calls the storages' public
``optimize_for_webserver`` there, which swaps the engines for a pool of one kept-open connection
(and up to ``max_overflow`` more while threads use it at once). This storage makes the same call
in every process — run workers, the daemon, sensors, the CLI — so a run reuses one connection per
storage instead of opening thousands.

What it costs: each process that loads the instance keeps up to three idle connections (run, event
log and schedule storage) while it lives; with the run queue's four concurrent runs, the daemon and
the webserver that is a few dozen, well under PostgreSQL's default ``max_connections`` of 100.
Connections older than ``POOL_RECYCLE_SECONDS`` are replaced on their next checkout, so a server or
proxy that drops idle sessions after an hour does not break a long-lived process. Statements have no
timeout, as with dagster-postgres outside the webserver (the webserver sets its own when it loads).

Configured in ``dagster.postgres.yaml`` as ``storage: custom:`` with the same ``postgres_db`` block
as ``storage: postgres:``; nothing else changes (tables, migrations and the webserver's settings are
dagster-postgres's own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_SECONDS = 3600
"""Replace a pooled connection after an hour (the webserver's default too)."""
MAX_OVERFLOW = 20
"""Extra connections a process may open while more threads than one use a storage at once (the
daemon's threads, a webserver's requests); they close when returned, as dagster-postgres's did."""
NO_STATEMENT_TIMEOUT = 0
"""PostgreSQL's ``statement_timeout = 0``: none, as outside the webserver before."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages keep a connection open.

    ``inst_data`` is Dagster's ``ConfigurableClassData`` (typed ``Any``: its class is not public API)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Any = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage.optimize_for_webserver(NO_STATEMENT_TIMEOUT, POOL_RECYCLE_SECONDS, MAX_OVERFLOW)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
