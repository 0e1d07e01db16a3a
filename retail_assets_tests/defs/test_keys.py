"""One table name, one place: asset keys come from the contract through ``defs/keys.py`` only.

The Dagster layer (``retail_assets/defs``, ``definitions.py``, ``demo.py``) must not spell a schema
name, a contract table name or an asset key itself: a literal there is a second copy that a renamed
schema or a new table leaves behind. These tests read the source (AST, so prose in docstrings and
comments is free) and load the real code location.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from retail_assets.contract.catalog import BRONZE_TABLES, SILVER_TABLES
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.events import BRONZE_EVENT_TABLES
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.contract.types import BRONZE_SCHEMA, SILVER_SCHEMA
from retail_assets.defs import keys

PACKAGE = Path(keys.__file__).resolve().parents[1]
DAGSTER_LAYER = sorted(
    p
    for p in [*(PACKAGE / "defs").rglob("*.py"), PACKAGE / "definitions.py", PACKAGE / "demo.py"]
    if p != Path(keys.__file__).resolve()
)
GROUPS = {
    keys.DIMENSIONS_GROUP,
    keys.BRONZE_BATCH_GROUP,
    keys.BRONZE_EVENTS_GROUP,
    keys.SILVER_GROUP,
    keys.STREAMING_GROUP,
    keys.REPORTS_GROUP,
    keys.MAINTENANCE_GROUP,
}
TABLE_NAMES = set(BRONZE_TABLES) | set(SILVER_TABLES)
SCHEMA_REF = re.compile(rf"(?<![\w.-])({re.escape(BRONZE_SCHEMA)}|{re.escape(SILVER_SCHEMA)})(?=$|[./])")
TABLE_COUNT = re.compile(
    r"\b(\d+|two|six|eighteen|nineteen)\s+(?:[\w`'*/.-]+\s+){0,3}?(tables?|assets?|dimensions|facts)\b", re.I
)


def _prose_nodes(tree: ast.AST) -> set[int]:
    """ids of string statements (module/class/function/attribute docstrings): prose, not values."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _group_arguments(tree: ast.AST) -> set[int]:
    """ids of the constants given as a group: ``group_name=...`` or ``AssetSelection.groups(...)``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "groups":
                ids |= {id(arg) for arg in node.args}
            ids |= {id(kw.value) for kw in node.keywords if kw.arg == "group_name"}
    return ids


def key_and_name_literals(source: str) -> list[str]:
    """Every place in ``source`` that builds an asset key or spells a schema, table or group name."""
    tree = ast.parse(source)
    prose, group_args = _prose_nodes(tree), _group_arguments(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "AssetKey":
                found.append(f"line {node.lineno}: builds an AssetKey")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            text = node.value
            if SCHEMA_REF.search(text):
                found.append(f"line {node.lineno}: schema name in {text!r}")
            elif text in TABLE_NAMES:
                found.append(f"line {node.lineno}: table name {text!r}")
            elif id(node) in group_args:
                found.append(f"line {node.lineno}: group name {text!r}")
    return sorted(found, key=lambda f: int(f.split(":")[0].removeprefix("line ")))


def _strings(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_the_detector_flags_what_it_is_meant_to_and_spares_prose() -> None:
    planted = '''
"""Module prose may say cusn/fact_receipts and the 18 tables."""
import dagster as dg
KEY = dg.AssetKey(["x", "y"])
DESC = f"ag.{name}: a copy"
URI = "lake/cusn/fact_receipts"
NAME = "fact_receipts"
SPEC = dg.AssetSpec("k", group_name="bronze_batch")
OP_NAME = "bronze_batch"
FINE = "the agreed cusnormal silverware"
'''
    found = key_and_name_literals(planted)
    assert [f.split(":")[0] for f in found] == ["line 4", "line 5", "line 6", "line 7", "line 8"], found


@pytest.mark.parametrize("path", DAGSTER_LAYER, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_asset_key_schema_or_table_literal_outside_keys_and_the_contract(path: Path) -> None:
    found = key_and_name_literals(path.read_text())
    assert not found, (
        f"{path.relative_to(PACKAGE)} spells names that belong to the contract: {found}. Use the table's "
        "TableSpec (qualified_name, key_string, retail_assets.lake.paths) and the maps and groups of "
        "retail_assets/defs/keys.py instead."
    )


@pytest.mark.parametrize("path", DAGSTER_LAYER, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_text_of_the_dagster_layer_hard_codes_a_table_count(path: Path) -> None:
    counted = [f"line {n}: {m.group(0)!r}" for n, s in _strings(path.read_text()) for m in TABLE_COUNT.finditer(s)]
    assert not counted, f"{path.relative_to(PACKAGE)} states how many tables there are: {counted}; a new table makes it false"


def test_the_package_imports_no_private_dagster_module() -> None:
    """``dagster._core`` changes without notice between releases; the package uses the public API."""
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            private += [f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.startswith("dagster._")]
    assert not private, f"private Dagster imports: {private}"


def test_every_contract_table_has_exactly_one_asset_key_derived_from_its_spec() -> None:
    layers = [keys.DIM_KEYS, keys.BRONZE_BATCH_KEYS, keys.BRONZE_EVENT_KEYS, keys.SILVER_KEYS, keys.SILVER_DIM_KEYS]
    all_keys = [key for layer in layers for key in layer.values()]
    assert len(all_keys) == len(set(all_keys)) == len(keys.TABLE_KEYS)
    assert set(keys.DIM_KEYS) == set(DIMENSION_TABLES) == set(keys.SILVER_DIM_KEYS)
    assert set(keys.BRONZE_BATCH_KEYS) == set(FACT_TABLES) == set(keys.SILVER_KEYS)
    assert set(keys.BRONZE_EVENT_KEYS) == set(BRONZE_EVENT_TABLES)
    for key, spec in keys.TABLE_KEYS.items():
        assert key == dg.AssetKey([spec.schema, spec.name]) and keys.spec_of(key) is spec
    tables_with_keys = {spec.path for spec in keys.TABLE_KEYS.values()}
    every_table = {spec.path for spec in [*BRONZE_TABLES.values(), *SILVER_TABLES.values()]}
    assert every_table - tables_with_keys == {spec.path for spec in CONTROL_TABLES.values()}, (
        "every contract table except the control tables (written by the pipeline, not assets) has a key"
    )


def test_the_code_location_defines_each_key_once_and_no_key_keys_py_does_not_know() -> None:
    from retail_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    defined = Counter(key for key in graph.get_all_asset_keys())
    known = set(keys.TABLE_KEYS) | {keys.OUTBOX_KEY, keys.REPORT_KEY, keys.REALISM_KEY, keys.LAKE_MAINTENANCE_KEY}
    assert set(defined) == known, f"unknown: {set(defined) - known}; missing: {known - set(defined)}"
    assert all(n == 1 for n in defined.values())
    groups = {graph.get(key).group_name for key in defined}
    assert groups == GROUPS, "every group of the code location is named in keys.py"


def test_an_unknown_key_or_table_name_says_what_exists() -> None:
    from retail_assets.lake.paths import bronze_uri

    with pytest.raises(KeyError, match="not the asset key of a contract table"):
        keys.spec_of(dg.AssetKey(["cusn", "fact_nothing"]))
    with pytest.raises(KeyError, match=r"not a Bronze table of the contract; use one of .*fact_receipts"):
        bronze_uri("/lake", "fact_reciepts")
