"""The code location's root: every definition lives under ``retail_assets/defs/`` by domain.

Loaded once per process and environment. Why: Dagster calls ``defs()`` again each time it
reconstructs the repository or a job from its pointer — six times in one ``dagster asset
materialize`` process, each walking the defs folder and rebuilding every definition (≈ 0.1 s apiece)
for a result that is the same. The resources and settings read the environment when they are built,
so the memo is keyed by the whole environment: a process that changes a variable (a test, a tool)
gets a fresh load. Reloading the code location in the UI starts a new code server process, which
loads afresh.
"""

import os
from pathlib import Path

import dagster as dg

_LOADED: dict[frozenset[tuple[str, str]], dg.Definitions] = {}


@dg.definitions
def defs() -> dg.Definitions:
    key = frozenset(os.environ.items())
    loaded = _LOADED.get(key)
    if loaded is None:
        loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        _LOADED.clear()  # one environment at a time: the memo never holds more than one load
        _LOADED[key] = loaded
    return loaded
