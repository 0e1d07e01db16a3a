"""Cross-day references (order line -> header of an earlier day) in whatever order days are built.

Automation may build day D's Silver before an earlier day's (the e2e flow does: the streamed day
first, the backfilled days afterwards). A reference into a day whose Silver partition does not
exist yet proves nothing, so it is not judged; once that day is built, a missing parent is a
violation again.
"""

from __future__ import annotations

import pyarrow.compute as pc

from retail_assets.contract.tables import silver_spec
from retail_assets.lake import delta
from retail_assets.silver.checks import RELATIONSHIPS
from retail_assets_tests.silver.conftest import DAY1, DAY2, build_day, generate, make_home

LINES = "fact_online_order_lines"
HEADERS = "fact_online_order_headers"


def _relationships(outcomes) -> object:
    return next(r for r in outcomes[LINES].results if r.name == RELATIONSHIPS)


def test_reference_into_an_unbuilt_day_is_not_judged_but_a_built_day_missing_the_parent_is(tmp_path):
    home = make_home(tmp_path)
    tables = generate(home, {DAY1: "batch", DAY2: "batch"})
    day1_prefix = f"ONL-{DAY1:%Y%m%d}-"
    lines2 = tables[DAY2][LINES]
    earlier = pc.starts_with(lines2["order_id_ext"], day1_prefix)
    assert pc.any(earlier).as_py(), "precondition: day 2 has status rows of day-1 orders"

    # day 2 first: its day-1 references cannot be judged yet, and are not reported as dangling
    first = build_day(home, DAY2, tables=[HEADERS, LINES])
    assert _relationships(first).passed, _relationships(first).description

    # day 1 built, but one of the referenced headers lost: now the reference is dangling
    build_day(home, DAY1, tables=[HEADERS])
    victim = lines2.filter(earlier)["order_id_ext"][0].as_py()
    uri = delta.table_uri(home.lake_root, "ag", HEADERS)
    spec = silver_spec(HEADERS)
    day1_headers = delta.read_table(uri, spec.arrow_schema, DAY1)
    delta.replace_partition(
        uri, day1_headers.filter(pc.not_equal(day1_headers["order_id_ext"], victim)), spec.arrow_schema, DAY1
    )
    second = build_day(home, DAY2, tables=[LINES])
    result = _relationships(second)
    assert not result.passed
    assert victim in str(result.metadata)


def test_dc_to_store_moves_reference_the_reorders_of_their_review_day(tmp_path):
    moves, reorders = "fact_truck_moves", "fact_reorders"
    home = make_home(tmp_path)
    tables = generate(home, {DAY1: "batch", DAY2: "batch"})
    day2_moves = tables[DAY2][moves]
    dc_to_store = day2_moves.filter(pc.equal(day2_moves["route_type"], "DC_TO_STORE"))
    assert dc_to_store.num_rows, "precondition: day 2 has DC-to-store moves (reviewed on day 1)"

    first = build_day(home, DAY2, tables=[reorders, moves])  # day 1 not built: nothing to judge
    assert next(r for r in first[moves].results if r.name == RELATIONSHIPS).passed

    build_day(home, DAY1, tables=[reorders])
    assert next(r for r in build_day(home, DAY2, tables=[moves])[moves].results if r.name == RELATIONSHIPS).passed

    victim = dc_to_store["shipment_id_ext"][0].as_py()
    uri = delta.table_uri(home.lake_root, "ag", reorders)
    spec = silver_spec(reorders)
    day1 = delta.read_table(uri, spec.arrow_schema, DAY1)
    kept = day1.filter(pc.invert(pc.fill_null(pc.equal(day1["shipment_id_ext"], victim), False)))
    assert kept.num_rows < day1.num_rows
    delta.replace_partition(uri, kept, spec.arrow_schema, DAY1)
    result = next(r for r in build_day(home, DAY2, tables=[moves])[moves].results if r.name == RELATIONSHIPS)
    assert not result.passed
    assert victim in str(result.metadata)
