"""Tests of the data-contract registries (tables, events, mappings)."""
