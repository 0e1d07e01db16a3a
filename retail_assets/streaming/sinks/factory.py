"""Which sink a run streams to: ``resolve_sink_kind`` and ``build_sink``.

Why here and not in the CLI: the Dagster job builds the same sink from its op config, and the
definitions must not import the command line module. The Azure module is imported only when the
Event Hubs sink is chosen (the SDK is heavy).
"""

from __future__ import annotations

import os
from datetime import date

from retail_assets.streaming.sinks import Sink

SINK_ENV = "RETAIL_ASSETS_STREAM_SINK"
EVENTHUB_NAME_ENV = "AZURE_EVENTHUB_NAME"
SINK_KINDS = ("local", "eventhub")


class UnknownSinkError(ValueError):
    """The sink name is not one of ``SINK_KINDS``; printed as one line by the CLI."""

    user_facing = True


def resolve_sink_kind(kind: str | None) -> str:
    """``kind``, or ``$RETAIL_ASSETS_STREAM_SINK``, or ``local``."""
    return kind or os.environ.get(SINK_ENV) or "local"


def build_sink(
    kind: str | None,
    lake_root: str,
    eventhub_name: str | None,
    send_timeout_s: float,
    earliest: date | None = None,
) -> Sink:
    """The sink named by ``kind`` (``local`` or ``eventhub``).

    ``earliest`` (the dataset's start date) is the first business day the local landing accepts:
    an event dated before it is quarantined as out of range, never landed in a partition of its own.

    An empty ``kind`` / ``eventhub_name`` falls back to ``RETAIL_ASSETS_STREAM_SINK`` (default
    ``local``) / ``AZURE_EVENTHUB_NAME``, so the runs the sensor launches (which carry no config)
    stream to the sink the deployment is configured for.
    """
    kind = resolve_sink_kind(kind)
    eventhub_name = eventhub_name or os.environ.get(EVENTHUB_NAME_ENV)
    if kind == "local":
        from retail_assets.streaming.sinks.local import LocalDeltaSink

        return LocalDeltaSink(lake_root, earliest=earliest)
    if kind == "eventhub":
        from retail_assets.streaming.sinks.eventhub import EventHubSettings, EventHubSink

        return EventHubSink(EventHubSettings(eventhub_name or "", send_timeout_s=send_timeout_s))
    raise UnknownSinkError(
        f"unknown sink {kind!r} (from --sink, the op config `sink` or ${SINK_ENV}); use 'local' or 'eventhub'."
    )
