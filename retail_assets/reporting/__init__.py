"""The per-day report: figures computed from the lake, rendered as charts (no Dagster import).

``figures`` reads one day of Silver and Bronze event tables into small aggregates, ``charts``
draws them with matplotlib (Agg, no display), ``markdown`` embeds the PNGs so the Dagster UI
shows them inside the materialization's metadata.
"""
