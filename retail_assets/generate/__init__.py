"""The deterministic, vectorised generator: dimensions, one day of all facts, carried state.

Public entry points (everything else in the package is an implementation module):
``build_dimensions(settings)``, ``initial_state(settings, dims)``, ``generate_day(settings, dims,
prev_state, day) -> DayResult``, ``CarryState``, ``StateError``.
"""

from retail_assets.generate.day import DayResult, generate_day
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.generate.state import CarryState, StateError, initial_state

__all__ = ["CarryState", "DayResult", "StateError", "build_dimensions", "generate_day", "initial_state"]
