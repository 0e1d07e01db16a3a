"""Batch half of the asset graph: dimension assets, the 18 Bronze batch assets, job and schedule."""
