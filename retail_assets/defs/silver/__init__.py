"""Silver wiring: an asset per Silver fact table, their per-day checks, engines and automation."""
