"""Batch half of the asset graph: dimension assets, a Bronze batch asset per fact table, job and schedule."""
