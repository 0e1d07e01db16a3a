from __future__ import annotations

from datetime import date

import pytest

from retail_assets.config import DatasetSettings, HomeSettings


@pytest.fixture
def home(tmp_path) -> HomeSettings:
    return HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home")})


@pytest.fixture
def dataset() -> DatasetSettings:
    return DatasetSettings(scale_factor=0.01, start_date=date(2024, 3, 4))
