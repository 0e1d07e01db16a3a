"""The kinds of Silver check rule, as typed data (no table names, no evaluation).

* ``RowRule``: a predicate every built row must satisfy (one aggregate over the day's rows).
* ``SetRule``: a query yielding one row (column ``k``) per offending key, over the built rows
  (relation ``silver``) and named reference relations (``needs``).
* ``ParentRule``: a day-window relational rule — a child row must find its parent in
  ``ag.<parent>`` among the rows of a ``DayWindow`` relative to the day being checked.

SQL text is a template over the day being checked: ``{day}``, ``{yesterday}``, ``{tomorrow}`` and
``{week_ago}`` are ISO dates filled in by ``render`` (``DayParams``). A rule is therefore defined
once, independent of the day, and the registry is plain data that tests can walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from retail_assets.checks.result import Severity
from retail_assets.silver.duckdb_compiler import DUCKDB
from retail_assets.silver.rules.groups import RELATIONSHIPS


def q(ident: str) -> str:
    """A DuckDB-quoted identifier."""
    return DUCKDB.quote(ident)


def key_expr(columns: tuple[str, ...], alias: str = "") -> str:
    """One VARCHAR per row naming its key (``a|b``; NULL spelled out) for samples of offenders."""
    prefix = f"{alias}." if alias else ""
    parts = [f"COALESCE(CAST({prefix}{q(c)} AS VARCHAR), 'NULL')" for c in columns]
    return " || '|' || ".join(parts) if parts else "'<row>'"


@dataclass(frozen=True)
class DayParams:
    """The dates a rule template may name, for the day being checked."""

    day: date

    def as_format_args(self) -> dict[str, str]:
        d = self.day
        return {
            "day": d.isoformat(),
            "yesterday": (d - timedelta(days=1)).isoformat(),
            "tomorrow": (d + timedelta(days=1)).isoformat(),
            "week_ago": (d - timedelta(days=7)).isoformat(),
        }


def escape(sql: str) -> str:
    """Literal SQL made safe to embed in a template (its braces doubled for ``render``)."""
    return sql.replace("{", "{{").replace("}", "}}")


def render(template: str, day: date) -> str:
    """The template's SQL for ``day`` (templates contain no other braces)."""
    return template.format(**DayParams(day).as_format_args())


class DayWindow(Enum):
    """Which days of a parent table a day-window rule looks in, relative to the checked day D."""

    SAME_DAY = "event_date = DATE '{day}'"
    BEFORE_DAY = "event_date < DATE '{day}'"
    UP_TO_DAY = "event_date <= DATE '{day}'"

    @property
    def predicate(self) -> str:
        """The window as a SQL template over ``event_date``."""
        return self.value


@dataclass(frozen=True)
class RowRule:
    """Must hold on every built row: ``predicate`` is a DuckDB boolean template over ``silver``."""

    rule_id: str
    group: str
    label: str
    predicate: str
    severity: Severity = Severity.ERROR
    not_null_column: str | None = None
    """Set when the rule is exactly ``column IS NOT NULL``: a column whose Arrow null count is 0
    satisfies it without a scan (Arrow keeps the count with the array)."""
    precheck: Precheck | None = None

    @property
    def name(self) -> str:
        return f"{self.rule_id} {self.label}"


@dataclass(frozen=True)
class BalanceWalk:
    """Proof that a C8 rule holds: the day's balances per (location, product), in (event_ts,
    txn_id_ext) order, continue each other and ``state`` (``ctl_state_inventory`` of D−1 for the
    chain's first rows, of D for the day's last rows)."""

    location_col: str
    location_type: str
    state: str
    end: bool
    """False: the chain (first rows continue ``state``); True: the last rows equal ``state``."""


@dataclass(frozen=True)
class KeysIn:
    """Proof that a reference rule holds: every non-null ``column`` value is a ``key`` of ``relation``."""

    column: str
    relation: str
    key: str


@dataclass(frozen=True)
class KeysInByType:
    """Proof that a typed reference rule holds: for each ``(type value, relation, key)`` case, every
    non-null ``column`` value of the rows whose ``type_column`` is that value is a ``key`` of
    ``relation`` (rows of another or a NULL type are not referenced, as in the rule's SQL)."""

    type_column: str
    column: str
    cases: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class KeysInParent:
    """Proof that a same-day parent rule holds: every ``child`` key tuple of a row without a NULL
    key is the ``parent`` key tuple of a row of ``relation`` whose ``event_date`` is D."""

    child: tuple[str, ...]
    relation: str
    parent: tuple[str, ...]


@dataclass(frozen=True)
class DocumentSums:
    """Proof that a document-sum rule holds: every row of ``relation`` (the documents of D) finds
    built rows with its ``key``, as many as its ``count`` column, whose ``sums`` (document column,
    line column) add up to its values; nothing involved is NULL."""

    relation: str
    key: tuple[str, ...]
    sums: tuple[tuple[str, str], ...]
    count: str


@dataclass(frozen=True)
class PaidDocuments:
    """Proof that a payment rule holds over the documents of D (the rows of each ``documents``
    relation, keyed by its id column) and the built payments (keyed by the first non-NULL of
    ``references``). ``part``: ``exists`` (every payment finds its document), ``amount`` (its
    amount_cents is the document's total_cents), ``after`` (its event_ts is later than the
    document's), ``approved`` (every document has exactly one APPROVED payment). Only judged
    when the document ids are unique and nothing the rule compares is NULL."""

    part: str
    documents: tuple[tuple[str, str], ...]
    references: tuple[str, ...]


@dataclass(frozen=True)
class CentsOf:
    """Proof that ``cents = cents(money)`` holds on every row, for a money column of scale <= 2
    (where ``money × 100`` is a whole number, so no rounding is involved)."""

    money: str
    cents: str
    scale: int


@dataclass(frozen=True)
class EventDay:
    """Proof that C6 holds: no NULL, every ``event_date`` is D and every ``event_ts`` lies in D (UTC)."""


@dataclass(frozen=True)
class InSet:
    """Proof that an enumeration holds: every non-null value of ``column`` is one of ``values``."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class NotBelow:
    """Proof that ``column >= bound`` holds on every row (no NULL, the minimum is at least ``bound``)."""

    column: str
    bound: int


@dataclass(frozen=True)
class SumOf:
    """Proof that ``result = Σ plus − Σ minus`` holds on every row of integer columns without NULLs
    (only when no value can overflow 64 bits, where DuckDB would raise instead of comparing)."""

    result: str
    plus: tuple[str, ...]
    minus: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductOf:
    """Proof that ``result = left × right`` holds on every row of integer columns without NULLs
    (only when both factors are below 2**31, so the product cannot overflow)."""

    result: str
    left: str
    right: str


@dataclass(frozen=True)
class UniqueKey:
    """Proof that no two rows share ``columns`` (a primary key without NULLs): the distinct values of
    one column, or of the columns combined into one integer (``int_codes.mixed_radix``).

    Tried up to ``max_rows`` rows (None, the default: any size). An earlier Arrow group-by of several
    columns lost to DuckDB's parallel hash aggregate in the statement that runs anyway; the combined
    integer key does not (receipt lines at scale factor 1: ≈ 9 ms of CPU against ≈ 20 ms for the
    rule inside the statement, measured with ``bench/bench_silver_checks.py``'s per-table figures).
    """

    columns: tuple[str, ...]
    max_rows: int | None = None


@dataclass(frozen=True)
class StockoutSpacing:
    """Proof that C10 holds: per (location_type, COALESCE(store_id, dc_id), product_id) the day's
    stockouts are at least ``hours`` apart, and the first is at least that long after the key's
    ``last_stockout_ts`` in ``state`` (``ctl_state_inventory`` of D−1)."""

    state: str = "state_prev"
    hours: int = 24


Precheck = (
    KeysIn
    | KeysInByType
    | KeysInParent
    | DocumentSums
    | PaidDocuments
    | CentsOf
    | BalanceWalk
    | EventDay
    | InSet
    | NotBelow
    | SumOf
    | ProductOf
    | UniqueKey
    | StockoutSpacing
)
"""A cheap sufficient condition for a rule to hold, checked on the Arrow data before any SQL runs
(``prechecks.py``). When it cannot prove the rule, the rule's query runs and reports as usual, so
a precheck changes the cost of a passing rule, never a finding."""


@dataclass(frozen=True)
class SharedRelation:
    """A relation several rules of one table read, computed once per evaluation.

    The evaluator puts it in the WITH clause of the table's one statement as a MATERIALIZED CTE,
    so a window over the day's rows or a scan of a parent table is done once, not once per rule.
    Rules naming the same ``name`` must give the same ``sql``.
    """

    name: str
    sql: str


@dataclass(frozen=True)
class SetRule:
    """A query template returning one row (column ``k``) per offending key.

    ``needs``: the relations it reads besides ``silver`` (dimension keys ``dim_*``, Silver tables
    ``ag_*``, Bronze event tables ``ev_*``, inventory state ``state_prev``/``state_cur``).
    ``vacuous_without``: relations whose rows of D are the only rows the rule can report on; when
    one has no rows of D (an event table on a batch day) the rule holds without being run.
    """

    rule_id: str
    group: str
    label: str
    sql: str
    needs: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    vacuous_without: tuple[str, ...] = ()
    shared: tuple[SharedRelation, ...] = ()
    """Relations computed once for all the table's rules (their needs are in ``needs`` too)."""
    precheck: Precheck | None = None

    @property
    def name(self) -> str:
        return f"{self.rule_id} {self.label}"

    def query(self, day: date) -> str:
        return render(self.sql, day)


@dataclass(frozen=True)
class ParentRule:
    """C9: a child row whose parent row is missing from ``ag.<parent>`` within ``window``.

    ``parent_day_in`` (cross-day references): the child column whose id embeds the parent's day as
    ``XXX-yyyymmdd-…`` (contract §1.5). A child whose parent day has no Silver partition yet is not
    judged: Silver days may be built in any order, and an unbuilt day proves nothing about a
    dangling reference. ``child_where`` restricts the rule to child rows that have such a parent at
    all (a condition over ``s``).
    """

    label: str
    child_cols: tuple[str, ...]
    parent: str
    parent_cols: tuple[str, ...]
    window: DayWindow
    severity: Severity = Severity.ERROR
    parent_day_in: str | None = None
    child_where: str | None = None
    rule_id: str = "C9"
    group: str = RELATIONSHIPS
    vacuous_without: tuple[str, ...] = ()
    shared: tuple[SharedRelation, ...] = ()
    precheck: Precheck | None = None
    parent_rows: SharedRelation | None = None
    """The parent's rows of ``window`` (``event_date`` and ``parent_cols`` at least) as a relation
    the table's other rules read too; it must also be in ``shared``. Why: the rule reads the window
    twice (its days, its keys), and a dataset scan of a Silver table costs a few ms each time."""

    @property
    def name(self) -> str:
        return f"{self.rule_id} {self.label}"

    @property
    def parent_relation(self) -> str:
        """``day_<parent>`` (its partition of D, in memory) for a same-day window, else ``ag_<parent>``."""
        return f"day_{self.parent}" if self.window is DayWindow.SAME_DAY else f"ag_{self.parent}"

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.parent_relation,)

    @property
    def sql(self) -> str:
        """The rule as a ``SetRule``-shaped template (offending child keys)."""
        window = self.window.predicate
        on = " AND ".join(
            f"s.{q(c)} = p.{q(pc)}" for c, pc in zip(self.child_cols, self.parent_cols, strict=True)
        )
        where = " AND ".join(f"s.{q(c)} IS NOT NULL" for c in self.child_cols)
        if self.child_where:
            where += f" AND ({self.child_where})"
        rows = f"{self.parent_relation} WHERE {window}"
        if self.parent_rows is not None:
            rows = self.parent_rows.name  # already the window's rows
        if self.parent_day_in:
            where += (
                f" AND strptime(substr(s.{q(self.parent_day_in)}, 5, 8), '%Y%m%d')::DATE IN "
                f"(SELECT DISTINCT event_date FROM {rows})"
            )
        return (
            f"SELECT DISTINCT {key_expr(self.child_cols, 's')} AS k FROM silver s "
            f"ANTI JOIN (SELECT * FROM {rows}) p ON {on} WHERE {where}"
        )

    def query(self, day: date) -> str:
        return render(self.sql, day)


Rule = RowRule | SetRule | ParentRule
RelationalRule = SetRule | ParentRule
"""Rules evaluated as queries yielding offending keys (everything but row rules)."""
