"""Golden digest per MODEL_VERSION: a silent change of the generated data fails a test.

Why: the determinism tests prove a day is identical across processes, not that it is identical to
what the model produced last week. This file pins a few days (around Thanksgiving 2024, at scale
factor 0.05) to sha256 digests, one per table per day, stored as ``<MODEL_VERSION>.json`` next to
this module. A change of the data without a version bump fails ``test_golden``; an intended change
bumps ``MODEL_VERSION`` (retail_assets/config.py) and writes the new file with
``python -m retail_assets_tests.golden --write`` — a visible, reviewable diff. Writing refuses to
overwrite an existing file, so an old version's digests can never be silently replaced.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from retail_assets.config import MODEL_VERSION, DatasetSettings
from retail_assets.generate import build_dimensions
from retail_assets_tests.generate.day_checks import day_digests, run_days, table_digest

GOLDEN_DIR = Path(__file__).parent
GOLDEN_SEED = 42
GOLDEN_SCALE_FACTOR = 0.05
GOLDEN_START = date(2024, 11, 27)  # Wednesday before Thanksgiving … Black Friday
GOLDEN_DAYS = 3
WRITE_COMMAND = "python -m retail_assets_tests.golden --write"


class GoldenExistsError(FileExistsError):
    """The digest file of this MODEL_VERSION already exists; it is never overwritten."""


def golden_path(model_version: str = MODEL_VERSION) -> Path:
    return GOLDEN_DIR / f"{model_version}.json"


def golden_settings() -> DatasetSettings:
    return DatasetSettings(seed=GOLDEN_SEED, scale_factor=GOLDEN_SCALE_FACTOR, start_date=GOLDEN_START)


def compute_digests() -> dict:
    """Generate the golden days in memory (from the start date's initial state) and hash every table."""
    settings = golden_settings()
    dims = build_dimensions(settings)
    _, days = run_days(settings, GOLDEN_DAYS, dims)
    return {
        "model_version": settings.model_version,
        "dataset_id": settings.dataset_id,
        "seed": GOLDEN_SEED,
        "scale_factor": GOLDEN_SCALE_FACTOR,
        "days": [(GOLDEN_START + timedelta(days=i)).isoformat() for i in range(GOLDEN_DAYS)],
        "dimensions": {name: table_digest(t) for name, t in sorted(dims.items())},
        "digests": {res.day.isoformat(): dict(sorted(day_digests(res).items())) for _, res in days},
    }


def load_golden(model_version: str = MODEL_VERSION) -> dict | None:
    path = golden_path(model_version)
    return json.loads(path.read_text()) if path.exists() else None


def write_golden(model_version: str = MODEL_VERSION) -> Path:
    """Write ``<model_version>.json``; refuses when it exists (bump MODEL_VERSION for new data)."""
    path = golden_path(model_version)
    if path.exists():
        raise GoldenExistsError(
            f"{path} already exists and is never overwritten. If the data changed on purpose, bump MODEL_VERSION "
            f"in retail_assets/config.py (now {model_version!r}) and run `{WRITE_COMMAND}` again."
        )
    data = compute_digests()
    if data["model_version"] != model_version:
        raise ValueError(
            f"asked to write version {model_version!r} but the generator is {data['model_version']!r}"
        )
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def differences(expected: dict, actual: dict) -> list[str]:
    """``day/table`` (or ``dimensions/table``) entries whose digest differs, is missing or is new."""
    out = []
    exp_dims, act_dims = expected.get("dimensions", {}), actual.get("dimensions", {})
    out += [
        f"dimensions/{t}" for t in sorted(set(exp_dims) | set(act_dims)) if exp_dims.get(t) != act_dims.get(t)
    ]
    exp, act = expected.get("digests", {}), actual.get("digests", {})
    for day in sorted(set(exp) | set(act)):
        e, a = exp.get(day, {}), act.get(day, {})
        out += [f"{day}/{t}" for t in sorted(set(e) | set(a)) if e.get(t) != a.get(t)]
    return out
