from datetime import date

import numpy as np

from retail_assets.generate import ids


def test_txn_ids_format_and_minimum_width():
    got = ids.txn_ids("S", np.array([12, 12]), date(2024, 4, 11), np.array([4711, 12345678]))
    assert list(got) == ["ITX-S-00012-20240411-0004711", "ITX-S-00012-20240411-12345678"]


def test_document_ids():
    assert list(ids.order_ids(date(2024, 4, 11), np.array([3]), np.array([123]))) == ["ONL-20240411-00003-000123"]
    assert list(ids.reorder_ids(date(2024, 4, 11), np.array([12]), np.array([2063]))) == [
        "ROR-20240411-00012-0002063"
    ]
    assert list(ids.store_shipment_ids(date(2024, 4, 11), np.array([12, 12]), np.array([False, True]))) == [
        "SHP-20240411-00012-A1",
        "SHP-20240411-00012-R1",
    ]
    assert list(
        ids.supplier_shipment_ids(date(2024, 4, 10), np.array([3]), np.array([True]), np.array([1]))
    ) == ["SUP-20240410-00003-R1"]


def test_base36_matches_contract_example():
    assert list(ids.base36(np.array([20871, 0]))) == ["000G3R", "000000"]
    assert list(ids.base36(np.array([36**7]))) == ["10000000"]


def test_empty_inputs_give_empty_ids_instead_of_crashing():
    none = np.zeros(0, dtype=np.int64)
    assert ids.zpad(none, 5).shape == (0,)
    assert ids.base36(none).shape == (0,)
    assert list(ids.reorder_ids(date(2024, 4, 11), none, none)) == []
    assert list(ids.order_ids(date(2024, 4, 11), none, none)) == []
