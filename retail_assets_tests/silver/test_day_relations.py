"""Same-day parent relations (``day_<table>``) come from the reference cache: a parent partition
rewritten after a child was checked is read again, so the child's next check sees the new rows."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.tables import silver_spec
from retail_assets.lake import delta
from retail_assets.lake.paths import silver_uri
from retail_assets.silver import checks
from retail_assets.silver.build import build_silver
from retail_assets.silver.engines import DuckDBEngine
from retail_assets_tests.silver.conftest import DAY1, SETTINGS, build_day, generate, make_home


def _money(home, table: str):
    ctx = checks.CheckContext(home.lake_root, SETTINGS.dataset_id)
    with duckdb.connect() as conn:
        build = build_silver(DuckDBEngine(conn), home.lake_root, table, DAY1)
        results = {r.name: r for r in checks.evaluate_checks(conn, ctx, build)}
    return build, results[checks.MONEY]


def test_a_rewritten_parent_partition_is_seen_by_the_childs_next_check(tmp_path):
    home = make_home(tmp_path)
    generate(home, {DAY1: "batch"})
    build_day(home, DAY1, ["fact_receipts", "fact_promotions"])
    promotions, money = _money(home, "fact_promotions")
    assert money.passed and promotions.data.num_rows, money.description
    # the parent is rewritten (another run, a fix): one promoted receipt's discount changes
    uri = silver_uri(home.lake_root, "fact_receipts")
    receipts = delta.read_table(uri, partition_value=DAY1)
    victim = promotions.data.column("receipt_id_ext")[0].as_py()
    hit = pc.equal(receipts.column("receipt_id_ext"), victim)
    discount = pc.if_else(hit, pc.add(receipts.column("discount_cents"), 1), receipts.column("discount_cents"))
    i = receipts.schema.get_field_index("discount_cents")
    receipts = receipts.set_column(i, "discount_cents", discount.cast(pa.int64()))
    delta.replace_partition(uri, receipts, silver_spec("fact_receipts").arrow_schema, DAY1)
    _, money = _money(home, "fact_promotions")
    assert not money.passed and victim in money.description, money.description
