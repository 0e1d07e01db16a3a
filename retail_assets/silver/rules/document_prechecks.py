"""Prechecks of the rules between a table and the documents of its day: same-day parents, document
sums (a receipt or promotion against its lines) and payments against their documents.

Why apart from ``prechecks``: these prove a join rule on two tables at once, on the keys of both coded
into one integer space (``int_codes.joint_codes``), so an array indexed by code replaces DuckDB's hash
join. Like every precheck they only say "holds" or "cannot tell" (then the rule's SQL runs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.silver.rules.int_codes import bounded, code_together, int_values, joint_codes
from retail_assets.silver.rules.kinds import DocumentSums, KeysInParent, PaidDocuments


def _without_nulls(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The rows of ``table`` with no NULL among ``columns`` (such rows join nothing in SQL)."""
    if not any(table.column(c).null_count for c in columns):
        return table
    mask = pc.is_valid(table.column(columns[0]))
    for c in columns[1:]:
        mask = pc.and_(mask, pc.is_valid(table.column(c)))
    return table.filter(mask)


def keys_in_parent(data: pa.Table, parent: pa.Table, rule: KeysInParent, day: date) -> bool:
    """Every child key tuple (rows without a NULL key) is a key tuple of a parent row of D.

    Why: the same-day reference of receipt and promo lines was an anti-join of every line against
    the day's parents in the table's statement; marking the parents' codes and looking the lines'
    up is a fraction of that, and with the table's other rules proven the statement is not run."""
    child = _without_nulls(data.select(list(rule.child)), rule.child)
    if not child.num_rows:
        return True
    dates = parent.column("event_date")
    if dates.null_count or len(dates) == 0 or any(v.as_py() != day for v in pc.min_max(dates).values()):
        parent = parent.filter(pc.equal(dates, pa.scalar(day, pa.date32())))  # a partition of D: rarely needed
    keys = _without_nulls(parent.select(list(rule.parent)), rule.parent)
    if not keys.num_rows:
        return False
    coded = joint_codes(child, keys)
    if coded is None:
        return False
    child_codes, parent_codes, span = coded
    present = np.zeros(span, np.bool_)
    present[parent_codes] = True
    return bool(present[child_codes].all())


EXACT_SUM = 2**52
"""Integer sums below this in magnitude are exact in float64 (``np.bincount`` weights add floats)."""


def document_sums(data: pa.Table, documents: pa.Table, rule: DocumentSums) -> bool:
    """Every document finds its lines: as many as its count, their sums equal to its columns.

    Why: the document-sum rule grouped every built line by its document's string id (receipt
    lines at scale factor 1: 130 k rows, most of the table's statement); counting and summing per
    integer code with ``np.bincount`` gives the same totals. Any NULL, a non-integer column or a
    sum that float64 might round leaves the rule to its SQL."""
    line_columns = [*rule.key, *(line for _, line in rule.sums)]
    doc_columns = [*rule.key, *(doc for doc, _ in rule.sums), rule.count]
    if any(data.column(c).null_count for c in line_columns) or any(documents.column(c).null_count for c in doc_columns):
        return False
    if not documents.num_rows:
        return True
    coded = joint_codes(data.select(list(rule.key)), documents.select(list(rule.key)))
    if coded is None:
        return False
    line_codes, doc_codes, span = coded
    # Number the documents' codes 0..d-1 (a repeated id shares one number) and count and sum per
    # number: arrays of d entries, where per code they had ``span`` (~50 × as many at sf 1).
    number = np.full(span, -1, np.int64)
    number[doc_codes] = np.arange(len(doc_codes))
    doc_number, line_number = number[doc_codes], number[line_codes]
    mine = line_number >= 0  # lines of no document: the rule, reading from the documents, ignores them
    line_number = line_number[mine]
    counts = np.bincount(line_number, minlength=len(doc_codes))[doc_number]
    expected = int_values(documents.column(rule.count))
    if expected is None or not np.array_equal(counts, expected) or not bool((counts > 0).all()):
        return False
    for doc, line in rule.sums:
        values, totals = int_values(data.column(line)), int_values(documents.column(doc))
        if values is None or totals is None or not bounded(totals, EXACT_SUM):
            return False
        if len(values) and float(np.abs(values.astype(np.float64)).sum()) >= EXACT_SUM:
            return False
        sums = np.bincount(line_number, weights=values[mine], minlength=len(doc_codes))[doc_number]
        if not np.array_equal(sums, totals.astype(np.float64)):
            return False
    return True


PAYMENT_COLUMNS = ("amount_cents", "event_ts")
DOCUMENT_COLUMNS = ("total_cents", "event_ts")


_PAID: OrderedDict[tuple, tuple[tuple, dict | None]] = OrderedDict()
"""The coded join of a table's payments and documents, shared by the four payment prechecks."""


def _paid_join(data: pa.Table, relations: Mapping[str, pa.Table], rule: PaidDocuments) -> dict | None:
    """Payments and documents side by side with their ids coded together (``code_together``); None
    when a document relation is missing or the ids cannot be coded."""
    tables = [relations.get(relation) for relation, _ in rule.documents]
    if any(t is None for t in tables):
        return None
    key = (id(data), *(id(t) for t in tables), rule.documents, rule.references)
    hit = _PAID.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], (data, *tables), strict=True)):
        return hit[1]
    parts = [
        t.select([k, *DOCUMENT_COLUMNS]).rename_columns(["doc", *DOCUMENT_COLUMNS])
        for t, (_, k) in zip(tables, rule.documents, strict=True)
    ]
    documents = pa.concat_tables(parts)
    refs = [data.column(c) for c in rule.references]
    doc_of = refs[0] if len(refs) == 1 else pc.coalesce(*refs)
    payments = pa.table([doc_of, *(data.column(c) for c in PAYMENT_COLUMNS)], names=["doc", *PAYMENT_COLUMNS])
    joined = None
    if not payments.column("doc").null_count and not documents.column("doc").null_count:
        coded = None
        if payments.num_rows and documents.num_rows:
            coded = code_together(list(payments.select(["doc"]).columns), list(documents.select(["doc"]).columns))
        joined = {"payments": payments, "documents": documents, "coded": coded}
    _PAID[key] = ((data, *tables), joined)  # holding the tables keeps their ids from reuse
    while len(_PAID) > 4:
        _PAID.popitem(last=False)
    return joined


def paid_documents(data: pa.Table, relations: Mapping[str, pa.Table], rule: PaidDocuments) -> bool:
    """One part of the payment rules on integer codes of the document ids (see ``PaidDocuments``).

    Why: the four payment rules joined every payment to the union of the day's receipts and
    orders in DuckDB (~15 ms of statement at scale factor 1 for ~15 k payments); with the ids
    coded together, each part is an array lookup, and the joint coding is shared by the four."""
    joined = _paid_join(data, relations, rule)
    if joined is None:
        return False  # a missing relation, or a NULL id (an ANTI JOIN reports it): the SQL decides
    payments, documents = joined["payments"], joined["documents"]
    if any(payments.column(c).null_count for c in PAYMENT_COLUMNS) or any(c.null_count for c in documents.columns):
        return False
    if payments.schema.field("event_ts").type != documents.schema.field("event_ts").type:
        return False
    if not documents.num_rows:
        return not payments.num_rows if rule.part == "exists" else True
    if not payments.num_rows:
        return rule.part != "approved"
    if joined["coded"] is None:
        return False
    pay, doc, span = joined["coded"]
    if rule.part == "approved":
        approved = pc.fill_null(pc.equal(data.column("status"), "APPROVED"), False).to_numpy(zero_copy_only=False)
        return bool((np.bincount(pay[approved], minlength=span)[doc] == 1).all())
    if (np.bincount(doc, minlength=span) > 1).any():
        return False  # a repeated document id joins a payment several times: the SQL decides
    slot = np.full(span, -1, np.int64)
    slot[doc] = np.arange(len(doc))
    at = slot[pay]
    if rule.part == "exists":
        return bool((at >= 0).all())
    found = at >= 0
    mine_column, their_column = ("amount_cents", "total_cents") if rule.part == "amount" else ("event_ts", "event_ts")
    mine = pc.cast(payments.column(mine_column), pa.int64()).to_numpy()[found]
    theirs = pc.cast(documents.column(their_column), pa.int64()).to_numpy()[at[found]]
    if rule.part == "amount":
        return bool(np.array_equal(mine, theirs))
    if rule.part == "after":
        return bool((mine > theirs).all())
    return False
