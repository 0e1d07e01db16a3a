"""The dimension step builds dim_customers a batch at a time: the same rows, a fraction of the memory."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.generate import dimensions
from retail_assets.generate.dimensions import StreamedDimensions, build_dimensions
from retail_assets.lake import delta

SETTINGS = DatasetSettings(seed=11, scale_factor=0.05)  # 20,150 customers, 4 stores


@pytest.mark.parametrize("rows_per_batch", [1_000, 1_337, 20_150, 10**6])
def test_batches_are_the_whole_tables_rows_in_order(rows_per_batch: int) -> None:
    whole = build_dimensions(SETTINGS)
    streamed = StreamedDimensions(SETTINGS)
    batches = list(streamed.customer_batches(rows_per_batch))
    assert [b.num_rows for b in batches[:-1]] == [rows_per_batch] * (len(batches) - 1)
    assert pa.concat_tables(batches).equals(whole["dim_customers"])
    assert streamed.customers == whole["dim_customers"].num_rows
    assert set(streamed.tables) == set(DIMENSION_TABLES) - {"dim_customers"}
    for name, table in streamed.tables.items():
        assert table.equals(whole[name]), name


def test_draws_made_in_chunks_are_the_draws_made_whole(monkeypatch) -> None:
    whole = StreamedDimensions(SETTINGS)
    expected = pa.concat_tables(whole.customer_batches())
    monkeypatch.setattr(dimensions, "DRAW_CHUNK", 777)  # 20,150 customers: 26 chunks a block
    assert pa.concat_tables(StreamedDimensions(SETTINGS).customer_batches()).equals(expected)


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="rows_per_batch must be at least 1"):
        next(StreamedDimensions(SETTINGS).customer_batches(0))


def test_the_held_draws_are_a_tenth_of_the_finished_rows() -> None:
    """What the step holds for every customer (the draws, narrowed) against what a row takes built."""
    chain = dimensions._chain(SETTINGS)
    draws = dimensions._customer_draws(SETTINGS, chain.geo, chain.stores, chain.sizes.customers)
    held = sum(getattr(draws, f).nbytes for f in draws.__dataclass_fields__)
    built = build_dimensions(SETTINGS)["dim_customers"].nbytes
    assert held / draws.n <= 32, f"{held / draws.n:.1f} bytes a customer held"
    assert held * 8 < built


def test_the_written_customers_are_the_built_ones_in_many_files(home_settings, monkeypatch) -> None:
    monkeypatch.setattr(dimensions, "CUSTOMER_BATCH_ROWS", 1_000)
    rows = pipeline.build_and_write_dimensions(home_settings, SETTINGS)
    whole = build_dimensions(SETTINGS)
    assert rows == {name: t.num_rows for name, t in whole.items()}
    uri = pipeline._uri(home_settings, "dim_customers")
    table = delta.open_table(uri)
    assert table.version() == 0  # one commit
    assert len(table.file_uris()) == 6  # 21 batches of 1,000 rows, 4 a file
    back = delta.read_table(uri, DIMENSION_TABLES["dim_customers"].arrow_schema)
    assert back.equals(whole["dim_customers"])
    assert pipeline.load_dimensions(home_settings, SETTINGS)["dim_stores"].equals(whole["dim_stores"])
    assert delta.last_commit_metadata(uri)[pipeline.DATASET_METADATA_KEY] == SETTINGS.dataset_id


def test_a_customer_build_that_fails_leaves_every_dimension_as_it_was(home_settings, monkeypatch) -> None:
    pipeline.build_and_write_dimensions(home_settings, SETTINGS)
    uris = {name: pipeline._uri(home_settings, name) for name in DIMENSION_TABLES}
    before = {name: delta.table_version(uri) for name, uri in uris.items()}

    original = StreamedDimensions.customer_batches

    def out_of_memory(self, rows_per_batch=None):
        yield from itertools.islice(original(self, 1_000), 5)  # five batches written, not committed
        raise MemoryError("the dimension step ran out of memory")

    monkeypatch.setattr(StreamedDimensions, "customer_batches", out_of_memory)
    with pytest.raises(MemoryError):
        pipeline.build_and_write_dimensions(home_settings, DatasetSettings(seed=12, scale_factor=0.05))
    assert {name: delta.table_version(uri) for name, uri in uris.items()} == before
    for uri in uris.values():
        assert delta.last_commit_metadata(uri)[pipeline.DATASET_METADATA_KEY] == SETTINGS.dataset_id
