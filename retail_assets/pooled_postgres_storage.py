"""Dagster's PostgreSQL storage, holding its connections open in every process that loads the instance.

Why: dagster-postgres opens a new database connection for every statement outside the webserver
(SQLAlchemy ``NullPool``), and a PostgreSQL connection costs a server process fork plus a SCRAM
password exchange, about 5 ms on loopback and more across a network. A run stores each event with
two to five statements (the run's event row, its copy in the asset index, the check-execution row,
…), so a Silver day's ~315 events paid ~30 ms each: a day on PostgreSQL took 9.7 s in process
against 4.5 s on the SQLite files, for 1.5 s of compute (``bench/bench_silver_dagster.py
--instance postgres``). The webserver already avoids this: Dagster's public
``optimize_for_webserver`` swaps each storage's engine for a pool of one kept-open connection there.
This storage gives every process — run workers, the daemon, sensors, the CLI — such a pool, built the
same way (``create_pg_engine``, the engine attribute that ``optimize_for_webserver`` replaces), plus
SQLAlchemy's ``pool_pre_ping``: a kept-open connection dies when the server restarts, fails over or a
proxy drops idle sessions, and without the ping the next statement of a run failed with "server
closed the connection unexpectedly" (where a connection per statement never noticed). The ping is one
round trip per checkout (≈ 0.1 ms on loopback), against ≈ 5 ms for a new connection.

What it costs: each process that loads the instance keeps up to three idle connections (run, event
log and schedule storage) while it lives; with the run queue's four concurrent runs, the daemon and
the webserver that is a few dozen, well under PostgreSQL's default ``max_connections`` of 100.
Connections older than ``POOL_RECYCLE_SECONDS`` are replaced on their next checkout. Statements have
no timeout, as with dagster-postgres outside the webserver (the webserver replaces these engines with
its own, with its statement timeout, when it loads).

Configured in ``dagster.postgres.yaml`` as ``storage: custom:`` with the same ``postgres_db`` block
as ``storage: postgres:``; nothing else changes (tables, migrations and the webserver's settings are
dagster-postgres's own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_SECONDS = 3600
"""Replace a pooled connection after an hour (the webserver's default too)."""
MAX_OVERFLOW = 20
"""Extra connections a process may open while more threads than one use a storage at once (the
daemon's threads, a webserver's requests); they close when returned, as dagster-postgres's did."""
ENGINE_ATTRIBUTE = "_engine"
"""Where dagster-postgres's storages keep their SQLAlchemy engine (the attribute their own
``optimize_for_webserver`` replaces); checked at load, so a Dagster upgrade that renames it fails
loudly instead of silently opening a connection per statement again."""


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
            _keep_connections_open(storage, postgres_url, token_provider)

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


def _keep_connections_open(storage: Any, postgres_url: str, token_provider: Any) -> None:
    """Give one dagster-postgres storage a pooled engine that pings a connection before reusing it."""
    current = getattr(storage, ENGINE_ATTRIBUTE, None)
    if current is None:
        raise RuntimeError(
            f"{type(storage).__name__} has no {ENGINE_ATTRIBUTE!r} attribute: this dagster-postgres version "
            "keeps its engine elsewhere. Use `storage: postgres:` in dagster.yaml (same postgres_db block) "
            "until retail_assets/pooled_postgres_storage.py is updated for it."
        )
    kwargs: dict[str, Any] = {
        "isolation_level": "AUTOCOMMIT",  # as dagster-postgres's engines
        "pool_size": 1,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": POOL_RECYCLE_SECONDS,
        "pool_pre_ping": True,
    }
    options = current.url.query.get("options")
    if options:
        kwargs["connect_args"] = {"options": options}
    setattr(storage, ENGINE_ATTRIBUTE, create_pg_engine(postgres_url, token_provider, **kwargs))
    current.dispose()
