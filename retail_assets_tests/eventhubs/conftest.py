"""Fixtures for the Event Hubs tests: a fake namespace per test, and one streamed day's outbox rows.

Every hub stops by itself (``lifetime_s``) even when a test fails half-way; a hub whose loop
raised fails the test that used it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from retail_assets_tests.eventhubs.fake_endpoint import FakeEventHub

HUB = "retail"


@pytest.fixture
def start_hub() -> Iterator[Callable[..., FakeEventHub]]:
    """``start_hub(**options)`` → a running ``FakeEventHub`` on a free loopback port."""
    hubs: list[FakeEventHub] = []

    def start(**options) -> FakeEventHub:
        hub = FakeEventHub(hub=HUB, lifetime_s=options.pop("lifetime_s", 90.0), **options).start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()
    errors = [hub.error for hub in hubs if hub.error is not None]
    assert not errors, f"the fake Event Hubs endpoint failed: {errors!r}"


@pytest.fixture
def fake_hub(start_hub) -> FakeEventHub:
    return start_hub()
