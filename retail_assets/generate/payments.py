"""Payment authorisation attempts (contract §7.5), vectorised over documents.

The tender table is data (mix in store / online, decline factor, latency range). Draws use the
fixed block layout of §8.2: for n documents and A attempts each, the stream yields five (n, A)
blocks in order — method uniforms, decline uniforms, decline reasons, latency uniforms, retry-gap
uniforms — whether or not an attempt is used, so one document's outcome never shifts another's
draws. ``resolve_attempts`` turns a block into attempts: a declined shopper retries with a method
drawn from the mix without the declined one(s); in store a third attempt is always CASH; online the
second decline abandons the order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.contract.enums import DECLINE_REASON

METHODS = ("CREDIT_CARD", "DEBIT_CARD", "CASH", "MOBILE_PAY", "PAYPAL", "OTHER")
CASH = METHODS.index("CASH")
MIX_IN_STORE = np.array([0.40, 0.30, 0.20, 0.10, 0.0, 0.0])  # the average tender mix (docs, refunds)
#: In store the CASH share depends on the ticket: upper bounds of the receipt total in cents and the
#: cash share below them (Fed Diary of Consumer Payment Choice: cash is ≈ a quarter of payments under
#: $25 and ≈ 5 % of those over $100). The non-cash rest keeps MIX_IN_STORE's proportions.
CASH_TICKET_EDGES_CENTS = np.array([2_500, 5_000, 10_000])
CASH_SHARE_BY_TICKET = np.array([0.26, 0.16, 0.10, 0.06])
MIX_ONLINE = np.array([0.60, 0.25, 0.0, 0.0, 0.10, 0.05])
DECLINE_FACTOR = np.array([1.0, 0.8, 0.0, 1.2, 1.1, 0.5])
BASE_DECLINE_P = 0.025
LATENCY_MS = np.array([[1500, 4000], [1200, 3500], [500, 2000], [800, 2500], [2000, 5000], [1000, 3000]])
DECLINE_REASONS = DECLINE_REASON  # the contract's vocabulary, in its order (draws index into it)
RETRY_GAP_US = (10_000_000, 45_000_000)


@dataclass(frozen=True)
class PaymentBlock:
    """The raw draws of n documents x A attempts (§8.2 block layout)."""

    u_method: np.ndarray
    u_decline: np.ndarray
    reason: np.ndarray
    u_latency: np.ndarray
    u_gap: np.ndarray


def draw_payment_block(g: np.random.Generator, n: int, attempts: int) -> PaymentBlock:
    """Draw the five blocks in their fixed order."""
    shape = (n, attempts)
    return PaymentBlock(
        u_method=g.random(shape),
        u_decline=g.random(shape),
        reason=g.integers(0, len(DECLINE_REASONS), size=shape, dtype=np.int64),
        u_latency=g.random(shape),
        u_gap=g.random(shape),
    )


def concat_blocks(blocks: list[PaymentBlock], attempts: int) -> PaymentBlock:
    if not blocks:
        e = np.zeros((0, attempts))
        return PaymentBlock(e, e, e.astype(np.int64), e, e)
    return PaymentBlock(
        *(np.concatenate([getattr(b, f) for b in blocks]) for f in PaymentBlock.__dataclass_fields__)
    )


def in_store_mix(total_cents: np.ndarray) -> np.ndarray:
    """Per-receipt tender mix (n, M): the CASH share by ticket size, the rest as MIX_IN_STORE."""
    cash = CASH_SHARE_BY_TICKET[np.searchsorted(CASH_TICKET_EDGES_CENTS, np.asarray(total_cents), side="right")]
    non_cash = np.where(np.arange(len(METHODS)) == CASH, 0.0, MIX_IN_STORE)
    mix = non_cash[None, :] * ((1.0 - cash) / non_cash.sum())[:, None]
    mix[:, CASH] = cash
    return mix


def _pick_method(u: np.ndarray, mix: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Method index from ``mix`` ((M,) or per document (n, M)) renormalised without ``excluded`` (n, M)."""
    w = np.where(excluded, 0.0, mix if mix.ndim == 2 else mix[None, :])
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1:]
    return np.minimum((cum <= u[:, None] * total).sum(axis=1), len(mix) - 1)


def latency_ms(method: np.ndarray, u: np.ndarray) -> np.ndarray:
    lo, hi = LATENCY_MS[method, 0], LATENCY_MS[method, 1]
    return lo + np.floor(u * (hi - lo + 1)).astype(np.int64)


@dataclass(frozen=True)
class Attempts:
    """Flattened attempts: ``doc`` indexes the input documents; only used attempts appear."""

    doc: np.ndarray
    attempt_num: np.ndarray
    method: np.ndarray
    approved: np.ndarray
    reason: np.ndarray  # index into DECLINE_REASONS, -1 when approved
    processing_ms: np.ndarray
    event_ts_us: np.ndarray
    doc_method: np.ndarray  # per document: the approved method (-1 if abandoned)
    abandoned: np.ndarray  # per document


def resolve_attempts(
    block: PaymentBlock, doc_ts_us: np.ndarray, mix: np.ndarray, cash_last: bool
) -> Attempts:
    """Apply §7.5 to a block: methods, declines, retries, latencies and times.

    ``mix``: one tender mix (M,) or one per document (n, M). ``cash_last``: in store the last (3rd)
    attempt is always CASH and so always approved; online (``False``) a decline on the last attempt
    abandons the document.
    """
    n, a_max = block.u_method.shape
    n_methods = len(METHODS)
    excluded = np.zeros((n, n_methods), dtype=bool)
    method = np.zeros((n, a_max), dtype=np.int64)
    declined = np.zeros((n, a_max), dtype=bool)
    used = np.zeros((n, a_max), dtype=bool)
    active = np.ones(n, dtype=bool)
    for a in range(a_max):
        if cash_last and a == a_max - 1:
            m = np.full(n, CASH, dtype=np.int64)
        else:
            m = _pick_method(block.u_method[:, a], mix, excluded)
        d = block.u_decline[:, a] < BASE_DECLINE_P * DECLINE_FACTOR[m]
        method[:, a] = m
        used[:, a] = active
        declined[:, a] = d & active
        excluded[np.arange(n), m] |= d
        active = active & d
    abandoned = active  # still declined after the last attempt
    lat = latency_ms(method, block.u_latency)
    gap = np.floor(RETRY_GAP_US[0] + block.u_gap * (RETRY_GAP_US[1] - RETRY_GAP_US[0]) + 0.5).astype(np.int64)
    gap[:, 0] = 0
    ts = np.asarray(doc_ts_us, dtype=np.int64)[:, None] + np.cumsum(gap + lat * 1000, axis=1)
    doc_idx, att_idx = np.nonzero(used)
    appr = ~declined[doc_idx, att_idx]
    last_used = used.sum(axis=1) - 1
    doc_method = np.where(abandoned, -1, method[np.arange(n), np.maximum(last_used, 0)])
    return Attempts(
        doc=doc_idx.astype(np.int64),
        attempt_num=att_idx.astype(np.int64) + 1,
        method=method[doc_idx, att_idx],
        approved=appr,
        reason=np.where(appr, -1, block.reason[doc_idx, att_idx]),
        processing_ms=lat[doc_idx, att_idx],
        event_ts_us=ts[doc_idx, att_idx],
        doc_method=doc_method,
        abandoned=abandoned,
    )
