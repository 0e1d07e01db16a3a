"""Loader of the reference data shipped in ``retail_assets/generate/reference/`` (contract §3).

The dimension builder samples from these small, hand-written files (geographies, tax rates, names,
a product catalogue with brand compatibility, product rules and holiday tag overlays). They are part
of what the dataset is a function of, so they are read once per process, validated, and handed out
as immutable numpy arrays; a malformed file fails with a message naming the file and the fix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from retail_assets.generate.money import round_half_away

REFERENCE_PACKAGE = "retail_assets.generate"
REFERENCE_DIR = "reference"
REGIONS = ("Northeast", "Southeast", "Midwest", "Southwest", "West")
#: §3.3: combined rate when neither (state, city) nor the state is in the reference, × 100000
DEFAULT_TAX_RATE_1E5 = 7407


class ReferenceDataError(ValueError):
    """A reference file is missing or malformed; the message names the file and what to fix."""


def _read_text(name: str) -> str:
    try:
        return resources.files(REFERENCE_PACKAGE).joinpath(REFERENCE_DIR, name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceDataError(
            f"reference file {REFERENCE_DIR}/{name} is missing from the installed package; reinstall "
            "retail_assets (pyproject ships generate/reference/*.csv and *.json as package data)."
        ) from None


def _csv_rows(name: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(_read_text(name))))
    if not rows:
        raise ReferenceDataError(f"reference file {name} has no rows; it needs a header and data rows.")
    missing = [c for c in required if c not in rows[0]]
    if missing:
        raise ReferenceDataError(
            f"reference file {name} lacks columns {missing}; expected header {list(required)}."
        )
    return rows


def _json(name: str) -> Any:
    try:
        return json.loads(_read_text(name))
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(
            f"reference file {name} is not valid JSON ({exc}); fix the syntax."
        ) from None


def _hundredths(text: str, where: str) -> int:
    """Exact integer hundredths of a non-negative decimal string such as ``1.25`` (no float)."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
        raise ReferenceDataError(f"{where}: {text!r} is not a decimal with at most 2 decimals (e.g. 3.49).")
    return int(whole) * 100 + int((frac + "00")[:2])


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# --- geographies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeographyReference:
    """Reference geographies; ``weight_milli`` is the weight normalised to mean 1.000, × 1000."""

    city: np.ndarray
    state: np.ndarray
    zip_code: np.ndarray
    district: np.ndarray
    region: np.ndarray
    weight_milli: np.ndarray

    def __len__(self) -> int:
        return len(self.city)


@lru_cache(maxsize=1)
def geographies() -> GeographyReference:
    name = "geographies.csv"
    rows = _csv_rows(name, ("city", "state", "zip_code", "district", "region", "weight"))
    for i, r in enumerate(rows, start=2):
        if r["region"] not in REGIONS:
            raise ReferenceDataError(f"{name} line {i}: region {r['region']!r} must be one of {REGIONS}.")
        if len(r["zip_code"]) != 5 or not r["zip_code"].isdigit():
            raise ReferenceDataError(
                f"{name} line {i}: zip_code {r['zip_code']!r} must be 5 digits (keep leading zeros)."
            )
        if len(r["state"]) != 2:
            raise ReferenceDataError(f"{name} line {i}: state {r['state']!r} must be a 2-letter code.")
    raw = np.array([_hundredths(r["weight"], f"{name} weight") for r in rows], dtype=np.int64)
    if np.any(raw <= 0):
        raise ReferenceDataError(f"{name}: every weight must be > 0.")
    # normalised to mean 1.000 over the reference, exactly in integers (§3.1)
    weight_milli = round_half_away(raw * len(raw) * 1000, int(raw.sum()))

    def col(key: str) -> np.ndarray:
        return _frozen(np.array([r[key] for r in rows], dtype=object))

    return GeographyReference(
        city=col("city"),
        state=col("state"),
        zip_code=col("zip_code"),
        district=col("district"),
        region=col("region"),
        weight_milli=_frozen(weight_milli),
    )


# --- tax rates -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def tax_rates() -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(state, city) -> rate × 100000, and state -> state average rate × 100000.

    The state average is the state's row with an empty city when present, else the rounded mean of
    its city rows (§3.3 "else state average").
    """
    name = "tax_rates.csv"
    city_rates: dict[tuple[str, str], int] = {}
    state_rows: dict[str, int] = {}
    per_state: dict[str, list[int]] = {}
    for i, r in enumerate(_csv_rows(name, ("state", "city", "rate")), start=2):
        whole, _, frac = r["rate"].strip().partition(".")
        if whole not in ("0", "") or not frac.isdigit() or len(frac) > 5:
            raise ReferenceDataError(
                f"{name} line {i}: rate {r['rate']!r} must be a fraction like 0.08875 (≤ 5 decimals)."
            )
        rate = int((frac + "00000")[:5])
        if r["city"]:
            city_rates[(r["state"], r["city"])] = rate
            per_state.setdefault(r["state"], []).append(rate)
        else:
            state_rows[r["state"]] = rate
    state_avg = dict(state_rows)
    for st, rates in per_state.items():
        if st not in state_avg:
            state_avg[st] = int(round_half_away(sum(rates), len(rates)))
    return city_rates, state_avg


def tax_rate_1e5(state: str, city: str) -> int:
    """Combined rate of (state, city); else the state average; else 0.07407 (§3.3), × 100000."""
    city_rates, state_avg = tax_rates()
    return city_rates.get((state, city), state_avg.get(state, DEFAULT_TAX_RATE_1E5))


# --- names ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameReference:
    first_names: np.ndarray
    last_names: np.ndarray
    street_names: np.ndarray
    residential_suffixes: np.ndarray
    commercial_suffixes: np.ndarray
    industrial_streets: np.ndarray
    phone_area_codes: np.ndarray


@lru_cache(maxsize=1)
def names() -> NameReference:
    data = _json("names.json")
    fields = NameReference.__dataclass_fields__
    missing = [f for f in fields if not data.get(f)]
    if missing:
        raise ReferenceDataError(f"names.json lacks non-empty lists {missing}.")
    return NameReference(**{f: _frozen(np.array(data[f], dtype=object)) for f in fields})


# --- product catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRules:
    food_keywords: tuple[str, ...]
    clothing_keywords: tuple[str, ...]
    reduced_rate_hash_percent: int
    refrigerated_categories: frozenset[str]
    refrigerated_subcategories: frozenset[str]
    case_pack_sizes: tuple[int, ...]
    case_pack_probabilities: tuple[float, ...]
    #: (field, keyword, tags): a base product whose ``field`` contains ``keyword`` gets ``tags``
    tag_overlays: tuple[tuple[str, str, str], ...]


@lru_cache(maxsize=1)
def product_rules() -> ProductRules:
    from retail_assets.generate.calendar import HOLIDAY_TAG_DATES

    d = _json("product_rules.json")
    try:
        overlays = tuple((str(f), str(k), str(t)) for f, k, t in d["holiday_tag_overlays"])
        rules = ProductRules(
            food_keywords=tuple(k.lower() for k in d["taxability"]["food_keywords"]),
            clothing_keywords=tuple(k.lower() for k in d["taxability"]["clothing_keywords"]),
            reduced_rate_hash_percent=int(d["taxability"]["reduced_rate_hash_percent"]),
            refrigerated_categories=frozenset(d["refrigeration"]["categories"]),
            refrigerated_subcategories=frozenset(d["refrigeration"]["subcategories"]),
            case_pack_sizes=tuple(int(x) for x in d["case_pack"]["sizes"]),
            case_pack_probabilities=tuple(float(x) for x in d["case_pack"]["probabilities"]),
            tag_overlays=overlays,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReferenceDataError(
            f"product_rules.json is malformed ({exc!r}); see the keys the loader reads."
        ) from None
    for field_name, _, tags in overlays:
        if field_name not in ("item", "subcategory", "category"):
            raise ReferenceDataError(
                f"product_rules.json overlay field {field_name!r} must be item, subcategory or category."
            )
        unknown = [t for t in tags.split(";") if t not in HOLIDAY_TAG_DATES]
        if unknown:
            raise ReferenceDataError(
                f"product_rules.json overlay tags {unknown} are unknown; use tags of calendar.HOLIDAY_TAG_DATES."
            )
    if len(rules.case_pack_sizes) != len(rules.case_pack_probabilities):
        raise ReferenceDataError("product_rules.json case_pack sizes and probabilities differ in length.")
    return rules


@dataclass(frozen=True)
class Catalogue:
    """Base products, brands, and every valid (base product, brand) combination in a fixed order.

    Combinations are enumerated base product by base product (file order), brands in file order,
    so sampling a combination index is deterministic.
    """

    department: np.ndarray  # per base product
    category: np.ndarray
    subcategory: np.ndarray
    item: np.ndarray
    base_price_cents: np.ndarray
    brand: np.ndarray  # per brand
    company: np.ndarray
    combo_base: np.ndarray  # per combination: base product index
    combo_brand: np.ndarray  # per combination: brand index

    @property
    def n_combinations(self) -> int:
        return len(self.combo_base)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    name = "base_products.csv"
    rows = _csv_rows(name, ("department", "category", "subcategory", "item", "base_price"))
    base_cents = np.array([_hundredths(r["base_price"], f"{name} base_price") for r in rows], dtype=np.int64)
    if np.any(base_cents < 3):
        raise ReferenceDataError(f"{name}: base_price must be at least 0.03 so that 0 < cost < sale_price.")
    brands = _json("brands.json").get("brands")
    if not brands:
        raise ReferenceDataError(
            "brands.json needs a non-empty 'brands' list of [brand, company, [categories]]."
        )
    brand_names = [b[0] for b in brands]
    if len(set(brand_names)) != len(brand_names):
        raise ReferenceDataError("brands.json has duplicate brand names; brand names must be unique.")
    known_categories = {r["category"] for r in rows}
    by_category: dict[str, list[int]] = {}
    for j, (bname, _company, cats) in enumerate(brands):
        for c in cats:
            if c not in known_categories:
                raise ReferenceDataError(f"brands.json brand {bname!r} names unknown category {c!r}.")
            by_category.setdefault(c, []).append(j)
    combo_base: list[int] = []
    combo_brand: list[int] = []
    for i, r in enumerate(rows):
        compatible = by_category.get(r["category"], [])
        if not compatible:
            raise ReferenceDataError(
                f"{name}: category {r['category']!r} has no compatible brand in brands.json."
            )
        combo_base.extend([i] * len(compatible))
        combo_brand.extend(compatible)

    def col(key: str) -> np.ndarray:
        return _frozen(np.array([r[key] for r in rows], dtype=object))

    return Catalogue(
        department=col("department"),
        category=col("category"),
        subcategory=col("subcategory"),
        item=col("item"),
        base_price_cents=_frozen(base_cents),
        brand=_frozen(np.array(brand_names, dtype=object)),
        company=_frozen(np.array([b[1] for b in brands], dtype=object)),
        combo_base=_frozen(np.array(combo_base, dtype=np.int64)),
        combo_brand=_frozen(np.array(combo_brand, dtype=np.int64)),
    )
