"""The check-rule registry is complete and well-formed: one entry per contract fact table, every
check name a constant defined once, and every rule's SQL binds against the contract's schemas
(DuckDB EXPLAIN over empty tables of exactly the relations the evaluator registers)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from retail_assets.contract.tables import FACT_TABLES, silver_spec
from retail_assets.silver.check_relations import relation_schema
from retail_assets.silver.rules import TABLE_RULES, build_order, groups_for, rules_for, silver_parents
from retail_assets.silver.rules import groups as G
from retail_assets.silver.rules.kinds import ParentRule
from retail_assets.silver.rules.statement import table_statement

DAY = date(2024, 3, 5)


def test_one_registry_entry_per_contract_fact_table():
    assert set(TABLE_RULES) == set(FACT_TABLES)


def test_an_unknown_table_names_the_registry_to_fix():
    with pytest.raises(KeyError, match=r"TABLE_RULES in retail_assets/silver/rules/tables\.py"):
        rules_for("fact_not_in_the_contract")


def test_every_check_name_is_a_constant_defined_once():
    constants = {name: value for name, value in vars(G).items() if name.isupper() and isinstance(value, str)}
    assert len(set(constants.values())) == len(constants), constants
    assert set(G.GROUP_DESCRIPTIONS) == set(constants.values())
    assert set(G.FIXED_GROUPS) | set(G.BLOCKING_GROUPS) <= set(G.GROUP_DESCRIPTIONS)


@pytest.mark.parametrize("table", list(FACT_TABLES))
def test_rules_are_uniquely_named_and_belong_to_a_rule_group(table):
    rules = rules_for(table)
    names = [r.name for r in (*rules.row_rules, *rules.relational_rules)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for r in (*rules.row_rules, *rules.relational_rules):
        assert r.group in G.GROUP_DESCRIPTIONS and r.group not in G.FIXED_GROUPS, r
    assert groups_for(table)[: len(G.FIXED_GROUPS)] == G.FIXED_GROUPS
    assert set(groups_for(table)[len(G.FIXED_GROUPS) :]) == rules.groups


def test_build_order_puts_every_parent_first():
    order = build_order()
    assert sorted(order) == sorted(FACT_TABLES)
    for table in order:
        assert all(order.index(p) < order.index(table) for p in silver_parents(table))
    assert set(silver_parents("fact_payments")) == {"fact_receipts", "fact_online_order_headers"}


@pytest.fixture(scope="module")
def empty_relations():
    """A connection with every relation any rule may read, empty and shaped by the contract."""
    conn = duckdb.connect()
    needs = {n for t in FACT_TABLES for n in rules_for(t).needs}
    for name in needs:
        conn.register(name, relation_schema(name).empty_table())
    return conn


@pytest.mark.parametrize("table", list(FACT_TABLES))
def test_every_rule_binds_against_the_contract_schema(empty_relations, table):
    """Each rule alone (so a failure names it), then the table's whole statement as evaluated."""
    conn = empty_relations
    conn.register("silver", silver_spec(table).arrow_schema.empty_table())
    rules = rules_for(table)
    alone = [([r], []) for r in rules.row_rules] + [([], [r]) for r in rules.relational_rules]
    for row_rules, relational in [*alone, (list(rules.row_rules), list(rules.relational_rules))]:
        try:
            conn.sql("EXPLAIN " + table_statement(DAY, row_rules, relational)).fetchall()
        except duckdb.Error as e:  # the message is the point
            names = [r.name for r in (*row_rules, *relational)]
            pytest.fail(f"{table}: {names if len(names) < 3 else 'all rules'} do not bind: {e}")


def test_shared_relations_are_declared_with_their_needs():
    for table in FACT_TABLES:
        for r in rules_for(table).relational_rules:
            for rel in r.shared:
                read = {n for n in rules_for(table).needs if n in rel.sql}
                assert read <= set(r.needs), (table, r.name, rel.name)


def test_day_window_rules_render_their_window():
    rule = next(r for r in TABLE_RULES["fact_receipts"] if isinstance(r, ParentRule))
    sql = rule.query(DAY)
    assert "event_date < DATE '2024-03-05'" in sql and "{" not in sql
