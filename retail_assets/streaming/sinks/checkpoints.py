"""Where the Event Hubs consumer keeps its checkpoints: local JSON files, or Azure Blob Storage.

Why two: local files (``$RETAIL_ASSETS_HOME/state/eventhub_checkpoints``) are right for one
consumer on one machine; on Azure, consumers keep checkpoints and partition ownership in a blob
container (``azure-eventhub-checkpointstoreblob``), so that a consumer on another machine — or
several consumers sharing the partitions — resume where the last one stopped. The blob store is
chosen by settings, never guessed:

* ``RETAIL_ASSETS_EVENTHUB_CHECKPOINT_CONTAINER`` — the blob container (unset: local files);
* ``RETAIL_ASSETS_EVENTHUB_CHECKPOINT_CONNECTION_STRING`` — the storage account's connection string
  (falls back to ``AZURE_STORAGE_CONNECTION_STRING``).

The container must exist: it is probed once when the store is built, so a wrong name, key or
endpoint fails the ingest before any event is read rather than after the first landed batch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retail_assets.streaming.sinks.eventhub import EventHubConfigError, file_checkpoint_store

CONTAINER_ENV = "RETAIL_ASSETS_EVENTHUB_CHECKPOINT_CONTAINER"
CONNECTION_ENV = "RETAIL_ASSETS_EVENTHUB_CHECKPOINT_CONNECTION_STRING"
FALLBACK_CONNECTION_ENV = "AZURE_STORAGE_CONNECTION_STRING"

_STORAGE_SECRET = re.compile(r"(AccountKey|SharedAccessSignature|sig)=[^;&\s]*", re.IGNORECASE)


def scrub_storage_secret(text: str) -> str:
    """Remove account keys and SAS signatures from a text before it is stored or logged."""
    return _STORAGE_SECRET.sub(r"\1=***", text)


def blob_checkpoint_store(connection_string: str, container: str) -> Any:
    """A ``BlobCheckpointStore`` on ``container``, after checking that the container answers."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

    try:
        store = BlobCheckpointStore.from_connection_string(connection_string, container)
    except ValueError as exc:
        raise EventHubConfigError(
            f"{CONNECTION_ENV} is not a usable Azure Storage connection string "
            f"({scrub_storage_secret(str(exc))[:300]}); copy it from the storage account's *Access keys* "
            "(DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net)."
        ) from None
    try:
        store.list_checkpoints("probe.servicebus.windows.net", "probe", "$Default")
    except ResourceNotFoundError:
        store.close()
        raise EventHubConfigError(
            f"the checkpoint container '{container}' does not exist in the storage account of "
            f"{CONNECTION_ENV}; create it (e.g. `az storage container create -n {container}`) or set "
            f"{CONTAINER_ENV} to an existing container. No event was read."
        ) from None
    except AzureError as exc:
        store.close()
        raise EventHubConfigError(
            f"the checkpoint container '{container}' could not be reached "
            f"({type(exc).__name__}: {scrub_storage_secret(str(exc)).splitlines()[0][:300]}); check "
            f"{CONNECTION_ENV} (account, key, endpoint) and the network to the storage account. No event was read."
        ) from None
    return store


def checkpoint_store_from_env(directory: Path, env: Mapping[str, str] | None = None) -> Any:
    """The blob store when ``RETAIL_ASSETS_EVENTHUB_CHECKPOINT_CONTAINER`` is set, else files in ``directory``."""
    env = os.environ if env is None else env
    container = env.get(CONTAINER_ENV, "").strip()
    if not container:
        return file_checkpoint_store(directory)
    connection_string = (env.get(CONNECTION_ENV) or env.get(FALLBACK_CONNECTION_ENV) or "").strip()
    if not connection_string:
        raise EventHubConfigError(
            f"{CONTAINER_ENV}={container} asks for blob checkpoints, but no storage connection string is set: "
            f"set {CONNECTION_ENV} (or {FALLBACK_CONNECTION_ENV}), or unset {CONTAINER_ENV} to keep "
            "checkpoints in local files."
        )
    return blob_checkpoint_store(connection_string, container)
