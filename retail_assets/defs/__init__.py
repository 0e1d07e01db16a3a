"""Dagster wiring only: assets, checks, sensors, schedules, jobs and resources by domain.

The functional core (generate/, streaming/, silver/, lake/) has no Dagster import; modules here
translate between it and Dagster (ARCHITECTURE.md principle 1).

Registration, one style: ``load_from_defs_folder`` (``retail_assets/definitions.py``) imports every
module here and collects its module-level assets, asset specs, checks, jobs, schedules and sensors
(a module-level list of them counts too). So a definition is registered by being a module-level
object, nothing else. ``@dg.definitions`` functions are kept for what has no module-level form:
resources (they need their keys) and the default executor.

Asset keys and group names come from ``defs/keys.py`` only, which derives them from the contract.
"""
