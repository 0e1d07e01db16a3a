"""The Silver check rules as data: rule kinds, the per-table registry, and what derives from them.

``rules_for(table)`` is every rule of a table: the rules derived from its contract entry
(``derived.py``) and its entry in ``TABLE_RULES`` (``tables.py``). The check groups a table shows
in Dagster, the Silver tables it reads (``silver_parents``) and the build order follow from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from retail_assets.contract.tables import FACT_TABLES
from retail_assets.silver.rules import derived
from retail_assets.silver.rules.groups import FIXED_GROUPS, GROUP_DESCRIPTIONS
from retail_assets.silver.rules.kinds import RelationalRule, RowRule
from retail_assets.silver.rules.tables import TABLE_RULES


@dataclass(frozen=True)
class TableRules:
    """All rules of one fact table: per-row predicates, and queries yielding offending keys."""

    table: str
    row_rules: tuple[RowRule, ...]
    relational_rules: tuple[RelationalRule, ...]

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(r.group for r in (*self.row_rules, *self.relational_rules))

    @property
    def needs(self) -> frozenset[str]:
        return frozenset(n for r in self.relational_rules for n in r.needs)


@functools.cache
def rules_for(table: str) -> TableRules:
    """Every rule of ``table``: derived from the contract, then its ``TABLE_RULES`` entry, then C12."""
    if table not in TABLE_RULES:
        raise KeyError(
            f"no Silver check rules for {table!r}: add an entry to TABLE_RULES in "
            f"retail_assets/silver/rules/tables.py (known: {sorted(TABLE_RULES)})"
        )
    return TableRules(
        table,
        derived.row_rules(table),
        (
            derived.primary_key_rule(table),
            *derived.dimension_rules(table),
            *TABLE_RULES[table],
            *derived.event_rules(table),
        ),
    )


@functools.cache
def groups_for(table: str) -> tuple[str, ...]:
    """Check groups of ``table`` (the Dagster check specs of its asset), in description order."""
    present = rules_for(table).groups
    return (*FIXED_GROUPS, *(g for g in GROUP_DESCRIPTIONS if g not in FIXED_GROUPS and g in present))


def silver_parents(table: str) -> list[str]:
    """Other Silver tables whose rows this table's rules read (build them first)."""
    needed = {n.split("_", 1)[1] for n in rules_for(table).needs if n.startswith(("ag_", "day_"))}
    return [t for t in FACT_TABLES if t in needed and t != table]


def build_order() -> list[str]:
    """The fact tables with every parent before its children (a stable topological order)."""
    done: list[str] = []
    pending = list(FACT_TABLES)
    while pending:
        ready = [t for t in pending if all(p in done for p in silver_parents(t))]
        if not ready:
            raise RuntimeError(f"Silver check rules form a cycle among {pending}")
        done.extend(ready)
        pending = [t for t in pending if t not in ready]
    return done


__all__ = ["TABLE_RULES", "TableRules", "build_order", "groups_for", "rules_for", "silver_parents"]
