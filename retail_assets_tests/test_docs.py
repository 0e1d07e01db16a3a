"""The documentation cannot silently drift from the project.

Why: the design (docs/ARCHITECTURE.md) and the data contract (docs/data-contract.md) live next to the
code and are kept current in the same commits. These tests catch the two drifts that are cheap to
detect mechanically: a link in the README or docs/ that no longer resolves (a moved file, a renamed
heading), and a table that exists in the contract as code (``retail_assets/contract``, plus the two
DuckDB state files the contract documents) but not in the contract document, or the other way round.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retail_assets.contract import BRONZE_EVENT_TABLES, CONTROL_TABLES, DIMENSION_TABLES, FACT_TABLES
from retail_assets.lake.ledger import LEDGER_TABLE
from retail_assets.streaming.outbox import DAYS_TABLE as OUTBOX_DAYS_TABLE
from retail_assets.streaming.outbox import TABLE as OUTBOX_TABLE

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONTRACT_DOC = DOCS / "data-contract.md"
LINKED_PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

DUCKDB_TABLES = {OUTBOX_TABLE, OUTBOX_DAYS_TABLE, LEDGER_TABLE}
"""Tables of the DuckDB state files (outbox, ledger); documented in the contract §2 and §5.6."""

CODE_TABLES = {*FACT_TABLES, *DIMENSION_TABLES, *CONTROL_TABLES, *BRONZE_EVENT_TABLES, *DUCKDB_TABLES}

# [text](target) and ![alt](target); the target ends at the first space (a "title") or ")".
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_EXTERNAL = ("http://", "https://", "mailto:")


def _prose(text: str) -> str:
    """The page without fenced code blocks (a ``[x](y)`` inside code is not a link)."""
    return _FENCE.sub("", text)


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", lambda m: "_" if m.group() == "_" else "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(page.read_text()), re.MULTILINE)
    return {_github_anchor(h) for h in headings}


def relative_links(page: Path) -> list[str]:
    """Every link target of ``page`` that points inside the repository (not a URL)."""
    return [t for t in _LINK.findall(_prose(page.read_text())) if not t.startswith(_EXTERNAL)]


def unresolved(page: Path, target: str) -> str | None:
    """Why ``target`` (a link on ``page``) does not resolve, or None when it does."""
    path_part, _, anchor = target.partition("#")
    dest = (page.parent / path_part).resolve() if path_part else page
    if not dest.exists():
        return f"{page.relative_to(ROOT)}: link {target!r} -> {dest} does not exist"
    if ROOT not in dest.parents and dest != ROOT:
        return f"{page.relative_to(ROOT)}: link {target!r} leaves the repository ({dest}); a clone would not have it"
    if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
        return f"{page.relative_to(ROOT)}: link {target!r}: no heading with anchor #{anchor} in {dest.name}"
    return None


def test_the_design_documents_are_in_the_project():
    assert (DOCS / "ARCHITECTURE.md").is_file() and CONTRACT_DOC.is_file()
    readme = (ROOT / "README.md").read_text()
    assert "docs/ARCHITECTURE.md" in relative_links(ROOT / "README.md"), "README must link the design"
    assert "docs/data-contract.md" in relative_links(ROOT / "README.md"), "README must link the contract"
    assert "../shared" not in readme, "README links outside the project; link docs/ instead"


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    problems = [why for t in relative_links(page) if (why := unresolved(page, t))]
    assert not problems, "\n".join(problems)


def test_the_link_checker_notices_a_broken_link(tmp_path):
    """Guards the checker itself: a missing file and a missing anchor are both reported."""
    page = ROOT / "README.md"
    assert unresolved(page, "docs/no-such-page.md") is not None
    assert unresolved(page, "docs/ARCHITECTURE.md#no-such-heading") is not None
    assert unresolved(page, "docs/ARCHITECTURE.md#streaming") is None
    assert unresolved(page, "../README.md") is not None


def _contract_text() -> str:
    return CONTRACT_DOC.read_text()


def _section_headings(level: str, number: str) -> list[str]:
    """Headings ``<level> <number>.N …`` of the contract, e.g. ``### 4.1 fact_receipts``."""
    pattern = rf"^{level} {re.escape(number)}\.\d+\s+(.+)$"
    return re.findall(pattern, _contract_text(), re.MULTILINE)


def _names_in(heading: str) -> set[str]:
    """The snake_case names a heading is about (before any ' — ' or '(' remark)."""
    head = re.split(r" — |\(", heading)[0]
    return set(re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", head))


def test_every_fact_table_has_its_section_and_no_section_is_extra():
    documented = set().union(*(_names_in(h) for h in _section_headings("###", "4")))
    assert documented == set(FACT_TABLES), (
        f"only in code: {sorted(set(FACT_TABLES) - documented)}; only in docs: {sorted(documented - set(FACT_TABLES))}"
    )


def test_every_dimension_has_its_section_and_no_section_is_extra():
    documented = set().union(*(_names_in(h) for h in _section_headings("###", "3")))
    documented.discard("scale_factor")  # §3.7 is about the scale factor, not a table
    assert documented == set(DIMENSION_TABLES), (
        f"only in code: {sorted(set(DIMENSION_TABLES) - documented)}; "
        f"only in docs: {sorted(documented - set(DIMENSION_TABLES))}"
    )


def test_every_event_type_has_its_payload_section_and_no_section_is_extra():
    documented = set().union(*(_names_in(h) for h in _section_headings("####", "5.4")))
    assert documented == set(BRONZE_EVENT_TABLES), (
        f"only in code: {sorted(set(BRONZE_EVENT_TABLES) - documented)}; "
        f"only in docs: {sorted(documented - set(BRONZE_EVENT_TABLES))}"
    )


def test_every_table_in_the_code_is_named_in_the_contract():
    text = _contract_text()
    missing = sorted(t for t in CODE_TABLES if not re.search(rf"\b{re.escape(t)}\b", text))
    assert not missing, f"tables of the contract code that docs/data-contract.md never names: {missing}"


def test_every_table_the_contract_names_exists_in_the_code():
    """Table-shaped names in the docs (``dim_*``, ``fact_*``, ``ctl_*``, ``streaming_*``, and
    ``cusn.x`` / ``ag.x``) must be tables of the code: a renamed or dropped table cannot linger."""
    unknown: set[str] = set()
    for page in (CONTRACT_DOC, DOCS / "ARCHITECTURE.md"):
        text = page.read_text()
        names = set(re.findall(r"\b(?:dim|fact|ctl|streaming)_[a-z0-9_]*[a-z0-9]\b", text))
        names |= set(re.findall(r"\b(?:cusn|ag)\.([a-z][a-z0-9_]*[a-z0-9])\b", text))
        unknown |= {f"{page.name}: {n}" for n in names if n not in CODE_TABLES}
    assert not unknown, f"tables named in the docs but not in the code: {sorted(unknown)}"


_COLUMN_ROW = re.compile(r"^\|\s*\d+\s*\|\s*([a-z_][a-z0-9_]*)\s*\|", re.MULTILINE)


def _first_column_table(text: str) -> list[str]:
    """The column names of the first numbered ``| 1 | name | …`` table in ``text``."""
    start = text.find("\n| 1 |")
    if start < 0:
        return []
    return _COLUMN_ROW.findall(text[start + 1 :].split("\n\n", 1)[0])


def _column_tables_after_mentions(name: str) -> list[list[str]]:
    """For each mention of ``name`` in the contract, the column list of the next numbered table."""
    text = _contract_text()
    return [_first_column_table(text[m.end() :]) for m in re.finditer(rf"\b{re.escape(name)}\b", text)]


def _section_columns(name: str) -> list[str]:
    """Columns of the numbered table in the contract section whose heading names the table."""
    parts = re.split(r"^(#{3} .+)$", _contract_text(), flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in _names_in(heading):
            return _first_column_table("\n" + body)
    raise AssertionError(f"no section of docs/data-contract.md is headed by {name}")


@pytest.mark.parametrize("table", sorted(FACT_TABLES))
def test_a_fact_tables_documented_columns_are_its_bronze_columns_in_order(table):
    """§4.x lists the Bronze columns; Silver adds ``_source`` by the rule of §4.0."""
    assert _section_columns(table) == [c.name for c in FACT_TABLES[table].columns]


@pytest.mark.parametrize("table", sorted(DIMENSION_TABLES))
def test_a_dimensions_documented_columns_are_its_columns_in_order(table):
    assert _section_columns(table) == [c.name for c in DIMENSION_TABLES[table].columns]


@pytest.mark.parametrize("table", sorted(CONTROL_TABLES))
def test_a_control_tables_documented_columns_are_its_columns_in_order(table):
    code = [c.name for c in CONTROL_TABLES[table].columns]
    documented = _column_tables_after_mentions(table)
    assert code in documented, f"no column table after a mention of {table} lists {code}; found {documented}"
