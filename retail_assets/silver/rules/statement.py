"""One DuckDB statement that evaluates a table's rules for a day: why one, and what it returns.

Every statement has a fixed cost (parse, bind, plan, start the pipelines: a few ms), which is
most of the cost of a small table's checks. So the row rules (one aggregate over ``silver``) and
the relational rules (a UNION ALL of offending keys, grouped by rule) share one statement, and the
relations several rules read are MATERIALIZED CTEs computed once. The statement returns one row:
``row_counts`` (violations per row rule, in order) and ``rel`` (a list of ``{r, n, sample}`` for
the relational rules that found something; ``r`` is the rule's position in the list given).
"""

from __future__ import annotations

from datetime import date

from retail_assets.silver.rules.findings import SAMPLE_SIZE
from retail_assets.silver.rules.kinds import RelationalRule, RowRule, SharedRelation, render


def violated(rule: RowRule, day: date) -> str:
    """The row rule's predicate negated, NULL counting as a violation."""
    return f"NOT COALESCE(({render(rule.predicate, day)}), FALSE)"


def shared_relations(rules: list[RelationalRule]) -> list[SharedRelation]:
    """The distinct shared relations of ``rules``; one name must mean one definition."""
    shared: dict[str, SharedRelation] = {}
    for r in rules:
        for rel in r.shared:
            if shared.setdefault(rel.name, rel) != rel:
                raise ValueError(
                    f"two rules define shared relation {rel.name!r} differently; rename one of them "
                    "in retail_assets/silver/rules/tables.py"
                )
    return list(shared.values())


def table_statement(day: date, row_rules: list[RowRule], relational: list[RelationalRule]) -> str:
    """The SQL evaluating ``row_rules`` and ``relational`` over ``silver`` (and their needs) for ``day``."""
    shared = shared_relations(relational)
    with_clause = (
        "WITH " + ", ".join(f"{rel.name} AS MATERIALIZED ({render(rel.sql, day)})" for rel in shared) + " "
        if shared
        else ""
    )
    row_counts = (
        "(SELECT [" + ", ".join(f"count(*) FILTER (WHERE {violated(r, day)})" for r in row_rules) + "] FROM silver)"
        if row_rules
        else "CAST([] AS BIGINT[])"
    )
    rel = "CAST(NULL AS STRUCT(r INTEGER, n BIGINT, sample VARCHAR[])[])"
    if relational:
        union = "\nUNION ALL\n".join(
            f"SELECT {i} AS rule, CAST(k AS VARCHAR) AS k FROM ({r.query(day)})" for i, r in enumerate(relational)
        )
        rel = (
            "(SELECT list({'r': rule, 'n': n, 'sample': sample}) FROM ("
            f"SELECT rule, count(*) AS n, (list(k ORDER BY k))[1:{SAMPLE_SIZE}] AS sample FROM ({union}) "
            "GROUP BY rule))"
        )
    return f"{with_clause}SELECT {row_counts} AS row_counts, {rel} AS rel"
