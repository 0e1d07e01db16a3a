"""The per-day report asset: charts of a retail day shown in the materialization's metadata."""
