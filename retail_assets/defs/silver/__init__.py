"""Silver wiring: the 18 ``ag/fact_*`` assets, their per-day checks, engines and automation."""
