"""Backfills at scale: one run over a range of days in date order, with progress (days, rows/s, ETA)."""
