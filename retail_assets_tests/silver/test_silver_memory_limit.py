"""Silver's DuckDB runs under a memory limit and spills to a directory under the home (issue 9)."""

from __future__ import annotations

from retail_assets.defs.silver.resources import MEMORY_LIMIT_ENV, silver_resources_from_env


def test_silver_duckdb_has_a_memory_limit_and_spills_under_the_home(retail_env, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "64MB")
    duck = silver_resources_from_env()["silver_duckdb"]
    with duck.get_connection() as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        # a sort of ~6 M rows x 3 columns is several times the limit: it completes by spilling
        con.execute("SET threads = 1")
        n, ordered = con.execute(
            """SELECT count(*), bool_and(k >= prev) FROM (
                 SELECT k, lag(k, 1, -1) OVER (ORDER BY k) AS prev FROM (
                   SELECT (i * 7919) % 6000011 AS k, i, md5(i::VARCHAR) AS pad FROM range(6000000) t(i)
                   ORDER BY k))"""
        ).fetchone()
    assert limit == "61.0 MiB"  # 64 MB as DuckDB prints it (its default would be 80 % of RAM)
    assert spill == str(retail_env.state_dir / "duckdb_spill")
    assert (n, ordered) == (6_000_000, True)
