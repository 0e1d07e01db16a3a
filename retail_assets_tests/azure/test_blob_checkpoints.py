"""The Event Hubs blob checkpoint store (the production option) against Azurite, no hub needed.

The store is the real ``BlobCheckpointStore`` built by the project's factory from the settings;
what it writes must be readable by a *new* store instance (a consumer restart, or a consumer on
another machine), and ownership claims must be optimistic (a stale claim loses).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

from retail_assets.streaming.sinks.checkpoints import (
    CONNECTION_ENV,
    CONTAINER_ENV,
    checkpoint_store_from_env,
)
from retail_assets.streaming.sinks.eventhub import EventHubConfigError
from retail_assets_tests.azure.azurite import Azurite
from retail_assets_tests.azure.conftest import CHECKPOINT_CONTAINER

NAMESPACE = "retail-ns.servicebus.windows.net"
HUB = "retail"
GROUP = "$Default"


def _env(azurite: Azurite, container: str = CHECKPOINT_CONTAINER) -> dict[str, str]:
    return {CONTAINER_ENV: container, CONNECTION_ENV: azurite.connection_string}


def _checkpoint(partition: str, sequence_number: int) -> dict:
    return {
        "fully_qualified_namespace": NAMESPACE,
        "eventhub_name": HUB,
        "consumer_group": GROUP,
        "partition_id": partition,
        "offset": str(sequence_number * 100),
        "sequence_number": sequence_number,
    }


def _ownership(partition: str, owner: str, etag: str | None = None) -> dict:
    return {
        "fully_qualified_namespace": NAMESPACE,
        "eventhub_name": HUB,
        "consumer_group": GROUP,
        "partition_id": partition,
        "owner_id": owner,
        **({"etag": etag} if etag else {}),
    }


def test_checkpoints_and_ownership_survive_a_new_store(azurite: Azurite, tmp_path: Path) -> None:
    first = checkpoint_store_from_env(tmp_path / "files", _env(azurite))
    assert isinstance(first, BlobCheckpointStore)
    first.update_checkpoint(_checkpoint("0", 41))
    first.update_checkpoint(_checkpoint("1", 7))
    first.update_checkpoint(_checkpoint("0", 42))  # the later checkpoint of a partition wins
    claimed = first.claim_ownership([_ownership("0", "consumer-a"), _ownership("1", "consumer-a")])
    assert sorted(o["partition_id"] for o in claimed) == ["0", "1"]
    first.close()

    restarted = checkpoint_store_from_env(tmp_path / "files", _env(azurite))
    checkpoints = {c["partition_id"]: c for c in restarted.list_checkpoints(NAMESPACE, HUB, GROUP)}
    assert {p: (c["sequence_number"], c["offset"]) for p, c in checkpoints.items()} == {
        "0": (42, "4200"),
        "1": (7, "700"),
    }
    owners = {o["partition_id"]: o for o in restarted.list_ownership(NAMESPACE, HUB, GROUP)}
    assert {p: o["owner_id"] for p, o in owners.items()} == {"0": "consumer-a", "1": "consumer-a"}

    # Optimistic concurrency: consumer-b takes partition 1 with the current etag; consumer-a's
    # claim with its stale etag then loses instead of overwriting.
    taken = restarted.claim_ownership([_ownership("1", "consumer-b", owners["1"]["etag"])])
    assert [o["owner_id"] for o in taken] == ["consumer-b"]
    stale = restarted.claim_ownership([_ownership("1", "consumer-a", owners["1"]["etag"])])
    assert stale == []
    restarted.close()

    blobs = azurite.list_blobs(CHECKPOINT_CONTAINER, NAMESPACE)
    assert f"{NAMESPACE}/{HUB}/{GROUP}/checkpoint/0".lower() in blobs
    assert not (tmp_path / "files").exists()  # the blob store was chosen, not local files


def test_without_the_container_setting_checkpoints_stay_in_local_files(azurite: Azurite, tmp_path: Path) -> None:
    store = checkpoint_store_from_env(tmp_path / "files", {CONNECTION_ENV: azurite.connection_string})
    assert not isinstance(store, BlobCheckpointStore)
    store.update_checkpoint(_checkpoint("3", 5))
    assert [c["sequence_number"] for c in store.list_checkpoints(NAMESPACE, HUB, GROUP)] == [5]
    assert list((tmp_path / "files").glob("*.json"))


def test_a_missing_container_fails_before_any_event_is_read(azurite: Azurite, tmp_path: Path) -> None:
    with pytest.raises(EventHubConfigError, match=r"'no-such-container' does not exist.*create it") as info:
        checkpoint_store_from_env(tmp_path, _env(azurite, "no-such-container"))
    assert "AccountKey=" not in str(info.value)


def test_a_container_without_a_connection_string_names_both_settings(tmp_path: Path) -> None:
    with pytest.raises(EventHubConfigError, match=f"{CONTAINER_ENV}=ckpt.*set {CONNECTION_ENV}"):
        checkpoint_store_from_env(tmp_path, {CONTAINER_ENV: "ckpt"})
