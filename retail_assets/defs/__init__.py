"""Dagster wiring only: assets, checks, sensors, schedules, jobs and resources by domain.

The functional core (generate/, streaming/, silver/, lake/) has no Dagster import; modules here
translate between it and Dagster (ARCHITECTURE.md principle 1).
"""
