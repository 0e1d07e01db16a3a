"""``staged.replace_table_from_batches``: a whole table replaced from batches in one commit, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from retail_assets.lake import delta, staged
from retail_assets.lake.lake_errors import LakeError

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def _batch(lo: int, hi: int, tag: str = "a") -> pa.Table:
    return pa.table({"id": list(range(lo, hi)), "name": [f"{tag}{i}" for i in range(lo, hi)]}, SCHEMA)


def _batches(n: int, size: int, tag: str = "a") -> Iterator[pa.Table]:
    for i in range(n):
        yield _batch(i * size, (i + 1) * size, tag)


def test_a_new_table_holds_the_batches_in_order_in_one_commit(tmp_path) -> None:
    uri = str(tmp_path / "t")
    rows = staged.replace_table_from_batches(uri, SCHEMA, _batches(7, 100), {"retail_assets.k": "v"}, batches_per_file=2)
    assert rows == 700
    table = delta.open_table(uri)
    assert table.version() == 0
    assert delta.read_table(uri, SCHEMA).equals(pa.concat_tables(_batches(7, 100)))
    assert delta.last_commit_metadata(uri)["retail_assets.k"] == "v"
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    assert [a["num_records"] for a in actions] == [200, 200, 200, 100]
    assert [(a["min.id"], a["max.id"]) for a in actions] == [(0, 199), (200, 399), (400, 599), (600, 699)]


def test_an_existing_table_is_replaced_whole_by_one_commit(tmp_path) -> None:
    uri = str(tmp_path / "t")
    delta.replace_table(uri, _batch(0, 50, "old"), SCHEMA)
    staged.replace_table_from_batches(uri, SCHEMA, _batches(3, 10, "new"))
    assert delta.open_table(uri).version() == 1
    assert delta.read_table(uri, SCHEMA).equals(pa.concat_tables(_batches(3, 10, "new")))


def test_a_failure_while_writing_leaves_the_table_as_it_was(tmp_path) -> None:
    uri = str(tmp_path / "t")
    before = _batch(0, 50, "old")
    delta.replace_table(uri, before, SCHEMA)

    def failing() -> Iterator[pa.Table]:
        yield from _batches(5, 10, "new")
        raise MemoryError("the process ran out of memory mid-way")

    with pytest.raises(MemoryError):
        staged.replace_table_from_batches(uri, SCHEMA, failing(), batches_per_file=2)
    assert delta.open_table(uri).version() == 0
    assert delta.read_table(uri, SCHEMA).equals(before)


def test_a_batch_that_drifted_from_the_schema_is_refused_and_nothing_lands(tmp_path) -> None:
    uri = str(tmp_path / "t")
    drifted = pa.table({"id": [1], "nom": ["x"]})
    with pytest.raises(LakeError, match=r"columns differ from the contract \(missing \['name'\], unexpected \['nom'\]"):
        staged.replace_table_from_batches(uri, SCHEMA, iter([_batch(0, 3), drifted]))
    assert not delta.table_exists(uri)


def test_no_batches_make_an_empty_table(tmp_path) -> None:
    uri = str(tmp_path / "t")
    delta.replace_table(uri, _batch(0, 5), SCHEMA)
    assert staged.replace_table_from_batches(uri, SCHEMA, iter([])) == 0
    assert delta.read_table(uri, SCHEMA).num_rows == 0
    assert pa.table(delta.open_table(uri).get_add_actions()).num_rows == 0


def test_a_store_that_takes_no_staged_files_gets_the_batches_in_one_replace(monkeypatch) -> None:
    """S3 and GCS roots (``lake.staging_fs`` refuses to stage there) keep the whole-table write."""
    calls = []
    monkeypatch.setattr(delta, "replace_table", lambda uri, data, schema, meta=None: calls.append((uri, data, meta)))
    rows = staged.replace_table_from_batches("s3://bucket/lake/cusn/t", SCHEMA, _batches(3, 10), {"retail_assets.k": "v"})
    assert rows == 30
    [(uri, data, meta)] = calls
    assert uri == "s3://bucket/lake/cusn/t" and meta == {"retail_assets.k": "v"}
    assert data.equals(pa.concat_tables(_batches(3, 10)))
