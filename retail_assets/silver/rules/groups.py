"""The Silver check groups: one Dagster asset check per group and table (the names are an interface).

Why groups and not one check per rule: a table has 10–40 rules; the UI shows one check per concern
of the contract (§6.3 C1–C13), and a failing group lists the rules that failed in its findings.
"""

from __future__ import annotations

SCHEMA_EQUALITY = "schema_equality"  # C1
ROW_COUNT_ADDITIVITY = "row_count_additivity"  # C2
NO_OVERLAP = "no_overlap"  # C3
COMPLETENESS = "completeness"  # C4
KEYS_AND_VALUES = "keys_and_values"  # C5 keys/nullability, C6 event date, C13 enumerations
MONEY = "money"  # C7
INVENTORY_BALANCE = "inventory_balance"  # C8
RELATIONSHIPS = "relationships"  # C9 references, C10 stockout de-dup, C11 time order
EVENT_REDUNDANCY = "event_redundancy"  # C12

GROUP_DESCRIPTIONS: dict[str, str] = {
    SCHEMA_EQUALITY: "C1: mapped stream relation has the batch table's column names, order and types",
    ROW_COUNT_ADDITIVITY: "C2: silver rows = batch rows + de-duplicated stream rows included",
    NO_OVERLAP: "C3: a day's rows come from one path, the one named in ctl_day_manifest",
    COMPLETENESS: "C4: silver rows = ctl_day_manifest.expected_rows",
    KEYS_AND_VALUES: "C5 primary key unique/not null and NOT NULL columns; C6 event_date; C13 enums",
    MONEY: "C7: cents = amount rounded half away from zero, ext/total identities, document sums",
    INVENTORY_BALANCE: "C8: balance_after >= 0 and the balance chain continues from yesterday's state",
    RELATIONSHIPS: "C9 references (dimensions, parents), C10 stockout de-dup, C11 time order",
    EVENT_REDUNDANCY: "C12: duplicate deliveries identical; payload cents/times/literals agree",
}
"""Every group in the order its checks are listed; the description is the check's text when it passes."""

FIXED_GROUPS: tuple[str, ...] = (SCHEMA_EQUALITY, ROW_COUNT_ADDITIVITY, NO_OVERLAP, COMPLETENESS)
"""Groups every table has: decided by the build and the manifest, not by rules over the rows."""

BLOCKING_GROUPS = frozenset({SCHEMA_EQUALITY, ROW_COUNT_ADDITIVITY})
"""The groups the contract marks blocking (§6.3 C1, C2)."""
