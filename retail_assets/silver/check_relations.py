"""The relations the Silver check rules read besides the built rows, registered on a DuckDB connection.

Names a rule may use in ``needs``: ``dim_<name>`` (the dimension's joined key columns),
``day_<table>`` (a Silver table's partition of the checked day, from the reference cache),
``state_prev``/``state_cur`` (``ctl_state_inventory`` of D−1 and D), ``ev_<event type>`` (the
Bronze event table) and ``ag_<table>`` (a Silver table). Dimension keys and state come from the
per-process ``REFERENCE_CACHE`` (the same for all tables of a day); Silver and event tables are
registered as Delta snapshot datasets (DuckDB pushes the day filter into them), opened once per
Delta version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import CONTROL_TABLES, silver_spec
from retail_assets.lake import day_layout, delta
from retail_assets.lake.paths import bronze_uri, silver_uri
from retail_assets.silver.build import SilverBuild
from retail_assets.silver.reference import REFERENCE_CACHE, columns_reader, partition_reader
from retail_assets.silver.rules.derived import FOREIGN_KEYS

STATE_COLUMNS = ["location_type", "location_id", "product_id", "on_hand", "last_stockout_ts"]
"""The ``ctl_state_inventory`` columns the state rules read (C8 chain/end, C10 carried stockout)."""

DAY_PREFIX = "day_"
"""``day_<table>``: the Silver table's partition of D only, in memory (see ``resolve_relations``)."""

SOFT_NEEDS = frozenset({"state_prev", "state_cur"})
"""Relations registered empty when missing: rules reading them still check the day itself."""


def dimension_keys(name: str) -> list[str]:
    """The key columns of a dimension that some rule joins on (nothing else is read)."""
    return sorted({dim_col for dim, dim_col in FOREIGN_KEYS.values() if dim == name})


def relation_schema(name: str) -> pa.Schema:
    """The columns a rule sees under relation ``name`` (what ``register_relations`` registers)."""
    if name.startswith("ag_"):
        return silver_spec(name[3:]).arrow_schema
    if name.startswith(DAY_PREFIX):
        return silver_spec(name[len(DAY_PREFIX) :]).arrow_schema
    if name.startswith("dim_"):
        schema = DIMENSION_TABLES[name].arrow_schema
        return pa.schema([schema.field(c) for c in dimension_keys(name)])
    if name in SOFT_NEEDS:
        schema = CONTROL_TABLES["ctl_state_inventory"].arrow_schema
        return pa.schema([schema.field(c) for c in STATE_COLUMNS])
    if name.startswith("ev_"):
        return bronze_event_spec(name[3:]).arrow_schema
    raise KeyError(f"rule needs unknown relation {name!r} (known: ag_*, dim_*, ev_*, state_prev, state_cur)")


@dataclass
class Registered:
    """What registering a table's relations found out."""

    unavailable: dict[str, str] = field(default_factory=dict)
    """Relation → why it cannot be read (rules needing it are skipped with that note)."""
    empty_for_day: set[str] = field(default_factory=set)
    """Event relations known to hold no rows of D (rules vacuous without them hold without a run)."""
    in_memory: dict[str, pa.Table] = field(default_factory=dict)
    """Relations registered from Arrow tables in memory (dimension keys, state, parents' partitions
    of D), for prechecks."""
    relations: dict[str, Any] = field(default_factory=dict)
    """Name → Arrow table or dataset, registered on a connection only when a statement runs."""

    def register_on(self, conn: Any, names: set[str]) -> None:
        """Register the resolved relations among ``names`` on ``conn``: only those the rules that
        still run read (deferred: a relation read only by proven rules, e.g. the dimension keys or
        the state, is never registered, and a registration costs DuckDB a few hundred µs)."""
        for name, data in self.relations.items():
            if name in names:
                conn.register(name, data)


def _state(lake_root: str, state_day: date) -> pa.Table | None:
    uri = bronze_uri(lake_root, "ctl_state_inventory")
    wanted = relation_schema("state_prev")
    data = REFERENCE_CACHE.read(
        uri,
        ("state", state_day),
        lambda ds: partition_reader("state_date", state_day, STATE_COLUMNS)(ds).cast(wanted),
    )
    return data if data is not None and data.num_rows else None


def resolve_relations(lake_root: str, build: SilverBuild, needs: set[str]) -> Registered:
    """Find each needed relation for the checks of ``build`` (``Registered.register_on`` registers them)."""
    day = build.day
    out = Registered()
    for name in sorted(needs):
        if name.startswith("dim_"):
            uri = bronze_uri(lake_root, name)
            keys = dimension_keys(name)
            data = REFERENCE_CACHE.read(uri, ("columns", *keys), columns_reader(keys))
            if data is None:
                out.unavailable[name] = f"{uri} does not exist yet"
            else:
                out.relations[name] = data
                out.in_memory[name] = data
        elif name in SOFT_NEEDS:
            state_day = day - timedelta(days=1) if name == "state_prev" else day
            data = _state(lake_root, state_day)
            if data is None:
                # Soft need: the within-day part of a rule still runs against an empty state; the
                # continuity part is reported as not checked (e.g. D-1 before the start date).
                out.relations[name] = relation_schema(name).empty_table()
                out.unavailable[name] = f"ctl_state_inventory has no state_date={state_day}"
            else:
                out.relations[name] = data
                out.in_memory[name] = data
        elif name.startswith("ev_"):
            if build.stream_input_rows == 0:
                # The build counted no event of D passing the table's source filters (event_id is
                # NOT NULL in Bronze), and the C12 rules read only such rows: nothing to open.
                out.empty_for_day.add(name)
                continue
            uri = bronze_uri(lake_root, name[3:])
            events = delta.open_if_exists(uri)
            if events is not None:
                if day_layout.is_day_clustered(events, "event_date"):
                    # no file whose day range (its statistics) takes in D: no row of D
                    if not any(f.holds(day) for f in day_layout.dated_files(events, "event_date")):
                        out.empty_for_day.add(name)
                elif not events.file_uris(file_pruning_predicate=[("event_date", "=", day)]):
                    out.empty_for_day.add(name)  # pruning on the partition column is exact: no file, no row of D
                out.relations[name] = delta.snapshot_dataset(events, uri)
            else:
                out.empty_for_day.add(name)
                out.relations[name] = relation_schema(name).empty_table()
        elif name.startswith(DAY_PREFIX):
            # A parent's partition of D, read once per process and Delta version and then shared
            # by every child of that day (ag.fact_receipts of D by three): a dataset scan per
            # child and rule cost more than the rule, and two of them in one statement contended.
            uri = silver_uri(lake_root, name[len(DAY_PREFIX) :])
            wanted = relation_schema(name)
            data = REFERENCE_CACHE.read(
                uri, ("partition", day), lambda ds, w=wanted: partition_reader("event_date", day)(ds).cast(w)
            )
            if data is None:
                out.unavailable[name] = f"{uri} does not exist yet"
            else:
                out.relations[name] = data
                out.in_memory[name] = data  # same-day parent and document-sum prechecks read it
        elif name.startswith("ag_"):
            uri = silver_uri(lake_root, name[3:])
            snapshot = REFERENCE_CACHE.dataset(uri)
            if snapshot is None:
                out.unavailable[name] = f"{uri} does not exist yet"
            else:
                out.relations[name] = snapshot
        else:
            raise KeyError(f"rule needs unknown relation {name!r}")
    return out
