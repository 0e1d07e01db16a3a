"""Which sink a run uses: its config, else the deployment's environment, else the local sink.

The sensor launches ``stream_outbox`` without config, so a deployment that streams to Event Hubs
must be able to say so once, in the environment.
"""

from __future__ import annotations

import pytest

from retail_assets.streaming.sinks.eventhub import EventHubSink
from retail_assets.streaming.sinks.factory import UnknownSinkError, build_sink
from retail_assets.streaming.sinks.local import LocalDeltaSink

EMULATOR = "Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;UseDevelopmentEmulator=true"


def test_no_config_and_no_environment_means_the_local_sink(tmp_path, monkeypatch):
    monkeypatch.delenv("RETAIL_ASSETS_STREAM_SINK", raising=False)
    sink = build_sink("", str(tmp_path), None, 1.0)
    assert isinstance(sink, LocalDeltaSink)
    sink.close()


def test_environment_selects_event_hubs_with_its_hub_name(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_ASSETS_STREAM_SINK", "eventhub")
    monkeypatch.setenv("AZURE_EVENTHUB_NAME", "retail-events")
    monkeypatch.setenv("AZURE_EVENTHUB_CONNECTION_STRING", EMULATOR)
    sink = build_sink("", str(tmp_path), None, 1.0)
    try:
        assert isinstance(sink, EventHubSink)
        assert sink.settings.eventhub_name == "retail-events"
    finally:
        sink.close()


def test_explicit_config_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_ASSETS_STREAM_SINK", "eventhub")
    sink = build_sink("local", str(tmp_path), None, 1.0)
    assert isinstance(sink, LocalDeltaSink)
    sink.close()


def test_unknown_sink_in_the_environment_names_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_ASSETS_STREAM_SINK", "kafka")
    with pytest.raises(UnknownSinkError, match="'local' or 'eventhub'"):
        build_sink("", str(tmp_path), None, 1.0)
