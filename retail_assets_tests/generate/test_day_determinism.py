"""Determinism of generate_day (contract §8.1): byte-identical tables and state across processes,
hash seeds and the order in which days are generated (given the same previous state).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from retail_assets.config import DatasetSettings
from retail_assets.generate import CarryState, StateError, generate_day
from retail_assets_tests.generate.day_checks import day_digests, run_days

START = date(2024, 12, 22)
N_DAYS = 4

_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from datetime import date, timedelta
from retail_assets.config import DatasetSettings
from retail_assets.generate import CarryState, build_dimensions, generate_day, initial_state
from retail_assets_tests.generate.day_checks import day_digests

mode, start, n = sys.argv[1], date.fromisoformat(sys.argv[2]), int(sys.argv[3])
settings = DatasetSettings(seed=42, scale_factor=0.01, start_date=start)
dims = build_dimensions(settings)
state = initial_state(settings, dims)
prev_states, out = [], {}
for i in range(n):
    day = start + timedelta(days=i)
    prev_states.append(state)
    res = generate_day(settings, dims, state, day)
    out[day.isoformat()] = day_digests(res)
    state = res.state
if mode == "reverse":
    # regenerate every day again, newest first, from its previous state reloaded from its tables
    out = {}
    for i in reversed(range(n)):
        day = start + timedelta(days=i)
        prev = prev_states[i]
        tables = prev.to_tables()
        reloaded = CarryState.from_tables(prev.state_date, tables["ctl_state_inventory"], tables["ctl_state_schedule"], dims)
        out[day.isoformat()] = day_digests(generate_day(settings, dims, reloaded, day))
print(json.dumps(out, sort_keys=True))
"""


def _run(mode: str, hash_seed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode, START.isoformat(), str(N_DAYS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_processes_generate_identical_bytes_in_any_day_order():
    forward = _run("forward", "1")
    reverse = _run("reverse", "12345")
    assert sorted(forward) == sorted(reverse) and len(forward) == N_DAYS
    for day, digests in forward.items():
        assert len(digests) == 20  # 18 fact tables + the two state tables
        diff = [t for t in digests if digests[t] != reverse[day][t]]
        assert not diff, f"{day}: tables differ between processes/orders: {diff}"


def test_the_same_process_regenerates_a_day_identically_and_days_differ():
    settings = DatasetSettings(seed=42, scale_factor=0.01, start_date=START)
    dims, days = run_days(settings, 2)
    (_prev0, res0), (prev1, res1) = days
    again = generate_day(settings, dims, prev1, res1.day)
    assert day_digests(again) == day_digests(res1)
    assert day_digests(res0)["fact_receipts"] != day_digests(res1)["fact_receipts"]
    other_seed = DatasetSettings(seed=43, scale_factor=0.01, start_date=START)
    _, other = run_days(other_seed, 1)
    assert day_digests(other[0][1])["fact_receipt_lines"] != day_digests(res0)["fact_receipt_lines"]


def test_a_state_of_the_wrong_day_is_refused_with_the_fix():
    settings = DatasetSettings(seed=42, scale_factor=0.01, start_date=START)
    dims, days = run_days(settings, 1)
    state = days[0][1].state  # state of START
    with pytest.raises(StateError, match="materialise day"):
        generate_day(settings, dims, state, date(2024, 12, 25))
    assert isinstance(state, CarryState)
