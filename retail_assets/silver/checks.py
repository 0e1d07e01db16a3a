"""The contract's Silver checks (§6.3, C1–C13), evaluated together per table and day.

The rules are data (``retail_assets.silver.rules``: rule kinds, derived rules, ``TABLE_RULES``);
this module evaluates them. Evaluation is cheap by construction: every per-row rule of a table is
one aggregate in a single scan of the built rows (offending keys are gathered only for rules that
failed), all relational rules run as one UNION ALL statement, and the reference relations shared
by the day's tables (dimension keys, inventory state, manifest) come from a per-process cache
keyed by Delta version (``reference.py``). Results carry numbers (counts, a few offending keys) so
a failing check explains itself in the UI. Rules that need a relation that does not exist yet (a
dimension, yesterday's state, a parent Silver table) are skipped with a note, never guessed.

Everything here is DuckDB SQL over Arrow: the checks run the same whichever engine built the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pyarrow.compute as pc

from retail_assets.checks.result import CheckResult, Severity
from retail_assets.contract.events import EVENT_TYPES, bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.lake.paths import bronze_uri
from retail_assets.silver import rules as registry
from retail_assets.silver.build import SilverBuild
from retail_assets.silver.check_relations import SOFT_NEEDS, resolve_relations
from retail_assets.silver.reference import REFERENCE_CACHE, partition_reader
from retail_assets.silver.rules import TableRules, build_order, silver_parents
from retail_assets.silver.rules.findings import SAMPLE_SIZE, TableFindings
from retail_assets.silver.rules.groups import (
    BLOCKING_GROUPS,
    COMPLETENESS,
    EVENT_REDUNDANCY,
    GROUP_DESCRIPTIONS,
    INVENTORY_BALANCE,
    KEYS_AND_VALUES,
    MONEY,
    NO_OVERLAP,
    RELATIONSHIPS,
    ROW_COUNT_ADDITIVITY,
    SCHEMA_EQUALITY,
)
from retail_assets.silver.rules.kinds import RelationalRule, UniqueKey, key_expr
from retail_assets.silver.rules.prechecks import holds
from retail_assets.silver.rules.statement import table_statement, violated

EVENT_RELATIONS: dict[str, str] = {bronze_event_spec(e).qualified_name: f"ev_{e}" for e in EVENT_TYPES}
"""A Bronze event table's qualified name (the context of its schema diff) → the relation rules read."""


def rules_for(table: str) -> TableRules:
    """Every rule that applies to ``table`` (see ``retail_assets.silver.rules``)."""
    return registry.rules_for(table)


def groups_for(table: str) -> list[str]:
    """Check groups that exist for ``table`` (the Dagster check specs of its asset)."""
    return list(registry.groups_for(table))


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class CheckContext:
    """Where the checks find their reference relations (the lake) and what to expect."""

    lake_root: str
    dataset_id: str | None = None
    fail_on_schema_mismatch: bool = False


def evaluate_rules(conn: Any, ctx: CheckContext, build: SilverBuild) -> TableFindings:
    """Run all row and relational rules of the table in one statement; returns per-group findings.

    NOT NULL rules on columns without nulls (Arrow keeps the count), and row rules a precheck proves,
    hold without a scan. The one
    statement counts the violations of the other row rules in a single aggregate over the built
    rows and runs the relational rules as one UNION ALL, with the relations several rules share
    computed once (MATERIALIZED CTEs). The offending keys of failed row rules are collected in a
    second scan only when one failed: building a key string per row for every rule was most of
    the cost of a passing day.
    """
    table, day = build.table, build.day
    rules = rules_for(table)
    findings = TableFindings()

    scanned = [
        r
        for r in rules.row_rules
        if (r.not_null_column is None or build.data.column(r.not_null_column).null_count)
        and not (r.precheck is not None and holds(r.precheck, build.data, {}, day))
    ]
    registered = resolve_relations(ctx.lake_root, build, set(rules.needs))
    unavailable = dict(registered.unavailable)
    for diff in build.schema.diffs:
        if diff.context in EVENT_RELATIONS and not diff.ok:
            # A drifted event table cannot be read by the declared-schema rules; C1 reports it.
            unavailable[EVENT_RELATIONS[diff.context]] = f"{diff.context} does not match its declared schema (see C1)"

    # Decide which relational rules run (recorded after the row rules, in registry order).
    decided: list[tuple[RelationalRule, str]] = []  # (rule, "run" | "partly" | "skip" | "vacuous" | "proven")
    for r in rules.relational_rules:
        missing = [n for n in r.needs if n in unavailable]
        soft = [n for n in missing if n in SOFT_NEEDS]
        if soft and len(soft) == len(missing):
            decided.append((r, "partly"))
        elif missing:
            decided.append((r, "skip"))
        elif any(n in registered.empty_for_day for n in r.vacuous_without):
            decided.append((r, "vacuous"))
        elif r.precheck is not None and holds(r.precheck, build.data, registered.in_memory, day):
            decided.append((r, "proven"))
        else:
            decided.append((r, "run"))
    runnable = [r for r, how in decided if how in ("run", "partly")]
    if not scanned and len(runnable) == 1 and isinstance(runnable[0].precheck, UniqueKey):
        # The primary key is all that is left to run: proving it in Arrow at any size saves the statement.
        only = runnable[0]
        if holds(replace(only.precheck, max_rows=None), build.data, {}, day):
            decided = [(r, "proven" if r is only else how) for r, how in decided]
            runnable = []

    counts: list[int] = []
    by_rule: dict[int, tuple[int, list[str]]] = {}
    if scanned or runnable:
        # Nothing is registered or run when the prechecks proved every rule: a statement's fixed
        # cost (parse, plan, start the pipelines) was most of a small table's checks.
        conn.register("silver", build.data)
        registered.register_on(conn, {n for r in runnable for n in r.needs})
        # ``execute``, not ``sql``: DuckDB 2's ``sql`` binds the statement once to describe a lazy
        # relation and again when it is fetched; ``execute`` parses, plans and runs it once.
        counts, rel = conn.execute(table_statement(day, scanned, runnable)).fetchall()[0]
        counts = [int(n or 0) for n in counts]
        by_rule = {int(x["r"]): (int(x["n"]), list(x["sample"] or [])) for x in rel or []}
    samples: dict[int, list[str]] = {}
    failing = [i for i, n in enumerate(counts) if n]
    if failing:
        pk = FACT_TABLES[table].primary_key
        row = conn.execute(
            "SELECT "
            + ", ".join(
                f"(list({key_expr(pk)}) FILTER (WHERE {violated(scanned[i], day)}))[1:{SAMPLE_SIZE}]"
                for i in failing
            )
            + " FROM silver"
        ).fetchall()[0]
        samples = {i: list(s or []) for i, s in zip(failing, row, strict=True)}

    for r in rules.row_rules:
        if r not in scanned:
            findings.group(r.group).record(r.name, r.severity, 0, [])
    for i, r in enumerate(scanned):
        findings.group(r.group).record(r.name, r.severity, counts[i] or 0, samples.get(i, []))
    for r, how in decided:
        missing = [n for n in r.needs if n in unavailable]
        if how == "partly":
            findings.group(r.group).skip(f"{r.name}: partly — {unavailable[missing[0]]}")
        elif how == "skip":
            findings.group(r.group).skip(f"{r.name}: {unavailable[missing[0]]}")
        elif how in ("vacuous", "proven"):
            findings.group(r.group).record(r.name, r.severity, 0, [])
    for i, r in enumerate(runnable):
        n, s = by_rule.get(i, (0, []))
        findings.group(r.group).record(r.name, r.severity, n, list(s or []))
    return findings


def _manifest_row(ctx: CheckContext, table: str, day: date) -> dict[str, Any] | None:
    uri = bronze_uri(ctx.lake_root, "ctl_day_manifest")
    data = REFERENCE_CACHE.read(uri, ("partition", day), partition_reader("event_date", day))
    if data is None:
        return None
    rows = data.filter(pc.equal(data.column("table_name"), table)).to_pylist()
    return rows[0] if rows else None


def evaluate_checks(conn: Any, ctx: CheckContext, build: SilverBuild) -> list[CheckResult]:
    """All check groups of ``build.table`` for ``build.day``, in ``groups_for`` order."""
    table, day = build.table, build.day
    results: dict[str, CheckResult] = {}
    silver_rows = build.data.num_rows

    # C1 — decided during the build (it chose whether the stream side is included).
    mismatch = build.schema.mismatch_count
    results[SCHEMA_EQUALITY] = CheckResult(
        SCHEMA_EQUALITY,
        build.schema.ok,
        Severity.ERROR if ctx.fail_on_schema_mismatch else Severity.WARN,
        build.schema.describe()
        + (
            ""
            if build.schema.ok
            else (
                " — blocking (FAIL_ON_SCHEMA_MISMATCH=true)"
                if ctx.fail_on_schema_mismatch
                else " — stream side left out of Silver for this day (WARN mode)"
            )
        ),
        {
            "schema_mismatch_count": mismatch,
            "mismatching_columns": build.schema.mismatching_columns(),
            "stream_included": build.stream_included,
            "missing_event_tables": build.missing_event_tables,
            "notes": build.notes,
        },
    )

    # C2 — the built rows against two independent counts of the inputs.
    results[ROW_COUNT_ADDITIVITY] = CheckResult(
        ROW_COUNT_ADDITIVITY,
        silver_rows == build.expected_rows,
        Severity.ERROR,
        f"silver {silver_rows} vs batch {build.batch_input_rows} + stream "
        f"{build.stream_input_rows if build.stream_included else 0}",
        {
            "silver_rows": silver_rows,
            "batch_rows": build.batch_input_rows,
            "stream_rows": build.stream_input_rows if build.stream_included else 0,
            "stream_rows_available": build.stream_input_rows,
            "silver_batch_rows": build.batch_rows,
            "silver_stream_rows": build.stream_rows,
        },
    )

    # C3 / C4 — against the manifest.
    manifest = _manifest_row(ctx, table, day)
    path = manifest["path"] if manifest else None
    both = build.batch_input_rows > 0 and build.stream_input_rows > 0
    wrong_side = (path == "batch" and build.stream_input_rows > 0) or (
        path == "stream" and build.batch_input_rows > 0
    )
    results[NO_OVERLAP] = CheckResult(
        NO_OVERLAP,
        not both and not wrong_side,
        Severity.ERROR,
        f"manifest path {path or 'unknown (no manifest row)'}; batch rows {build.batch_input_rows}, "
        f"stream rows {build.stream_input_rows}",
        {
            "manifest_path": path or "",
            "batch_rows": build.batch_input_rows,
            "stream_rows": build.stream_input_rows,
        },
    )
    if manifest is None:
        results[COMPLETENESS] = CheckResult(
            COMPLETENESS,
            False,
            Severity.WARN,
            f"no ctl_day_manifest row for ({day}, {table}): generate day {day} first",
            {"silver_rows": silver_rows, "expected_rows": -1},
        )
    else:
        expected = int(manifest["expected_rows"])
        wrong_dataset = ctx.dataset_id is not None and manifest["dataset_id"] != ctx.dataset_id
        short_stream = path == "stream" and silver_rows < expected
        results[COMPLETENESS] = CheckResult(
            COMPLETENESS,
            silver_rows == expected and not wrong_dataset,
            Severity.WARN if short_stream and not wrong_dataset else Severity.ERROR,
            (
                f"manifest dataset {manifest['dataset_id']} != configured {ctx.dataset_id}; rebuild the day "
                "for this dataset"
                if wrong_dataset
                else f"silver {silver_rows} rows, manifest expects {expected}"
                + (" (stream day: events may still be landing)" if short_stream else "")
            ),
            {
                "silver_rows": silver_rows,
                "expected_rows": expected,
                "missing_rows": expected - silver_rows,
                "dataset_id": manifest["dataset_id"],
            },
        )

    findings = evaluate_rules(conn, ctx, build)
    for group in groups_for(table):
        if group not in results:
            results[group] = findings.result(group)
    # the contract marks C1 and C2 blocking: a failed ERROR there keeps the partition from being written
    return [replace(results[g], blocking=g in BLOCKING_GROUPS) for g in groups_for(table)]


__all__ = [
    "BLOCKING_GROUPS",
    "COMPLETENESS",
    "EVENT_REDUNDANCY",
    "GROUP_DESCRIPTIONS",
    "INVENTORY_BALANCE",
    "KEYS_AND_VALUES",
    "MONEY",
    "NO_OVERLAP",
    "RELATIONSHIPS",
    "ROW_COUNT_ADDITIVITY",
    "SCHEMA_EQUALITY",
    "CheckContext",
    "CheckResult",
    "Severity",
    "build_order",
    "evaluate_checks",
    "evaluate_rules",
    "groups_for",
    "rules_for",
    "silver_parents",
]
