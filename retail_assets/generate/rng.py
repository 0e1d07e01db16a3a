"""Named, keyed random streams (contract §8.2).

Every stochastic decision draws from ``rng(seed, purpose, *keys)``: a PCG64 generator seeded from
sha256 of ``"{seed}|{model_version}|{purpose}|{k1}|…"``. Because the stream depends only on its
name and keys, a day, store or chunk gets the same draws in any process, any order and any
parallelism; there is no global generator and no Python ``hash()`` anywhere.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np

from retail_assets.config import MODEL_VERSION


def _canonical_key(key: object) -> str:
    if isinstance(key, bool):
        raise TypeError("booleans are not valid stream keys")
    if isinstance(key, date):
        return key.isoformat()
    if isinstance(key, (int, np.integer)):
        return str(int(key))
    if isinstance(key, str):
        return key
    raise TypeError(f"stream key {key!r} must be a date, an integer or a string")


def stream_entropy(seed: int, purpose: str, *keys: object, model_version: str = MODEL_VERSION) -> int:
    """The 128-bit entropy of a stream: first 16 bytes of sha256 of its canonical name."""
    name = "|".join([str(int(seed)), model_version, purpose, *(_canonical_key(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:16], "big")


def rng(seed: int, purpose: str, *keys: object, model_version: str = MODEL_VERSION) -> np.random.Generator:
    """A fresh generator for one named stream, e.g. ``rng(42, "basket", day, store_id)``."""
    entropy = stream_entropy(seed, purpose, *keys, model_version=model_version)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
