"""The code location is loaded once per process and environment (``retail_assets/definitions.py``)."""

from __future__ import annotations

import pytest

from retail_assets.definitions import defs


def test_a_second_load_in_the_same_environment_is_the_same_definitions() -> None:
    assert defs() is defs()


def test_a_changed_environment_loads_afresh_and_the_resources_see_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_ASSETS_SILVER_ENGINE", "duckdb")
    first = defs()
    assert first.resources["silver_config"].engine == "duckdb"
    monkeypatch.setenv("RETAIL_ASSETS_SILVER_ENGINE", "spark")
    second = defs()
    assert second is not first
    assert second.resources["silver_config"].engine == "spark"
