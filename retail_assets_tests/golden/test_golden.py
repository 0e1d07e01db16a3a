"""The generated data of the current MODEL_VERSION equals its recorded golden digests."""

from __future__ import annotations

import pytest

from retail_assets.config import MODEL_VERSION
from retail_assets_tests import golden
from retail_assets_tests.golden.__main__ import main as golden_main


def test_generated_days_match_the_golden_digests_of_this_model_version():
    expected = golden.load_golden()
    if expected is None:
        pytest.fail(
            f"no golden digests for MODEL_VERSION {MODEL_VERSION!r} ({golden.golden_path()} is missing). "
            f"Fix: run `{golden.WRITE_COMMAND}` and commit the file with the version bump."
        )
    diff = golden.differences(expected, golden.compute_digests())
    assert not diff, (
        f"generated data differs from {golden.golden_path().name} for {len(diff)} table-days, e.g. {diff[:6]}. "
        f"If the change is intended, bump MODEL_VERSION in retail_assets/config.py (saying why) and run "
        f"`{golden.WRITE_COMMAND}`; otherwise the generator changed by accident."
    )


def test_differences_names_each_changed_table_day():
    a = {
        "dimensions": {"dim_stores": "1"},
        "digests": {"2024-11-27": {"fact_receipts": "x", "fact_marketing": "y"}},
    }
    b = {
        "dimensions": {"dim_stores": "2"},
        "digests": {"2024-11-27": {"fact_receipts": "x", "fact_marketing": "z"}},
    }
    assert golden.differences(a, b) == ["dimensions/dim_stores", "2024-11-27/fact_marketing"]
    assert golden.differences(a, a) == []


def test_write_refuses_to_overwrite_an_existing_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    existing = tmp_path / f"{MODEL_VERSION}.json"
    existing.write_text('{"kept": true}\n')
    assert golden_main(["--write"]) == 2
    err = capsys.readouterr().err
    assert "never overwritten" in err and "bump MODEL_VERSION" in err
    assert existing.read_text() == '{"kept": true}\n'


def test_a_missing_file_for_this_version_fails_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"python -m retail_assets_tests.golden --write"):
        test_generated_days_match_the_golden_digests_of_this_model_version()
