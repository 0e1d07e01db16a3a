"""Azurite, Microsoft's Azure Storage emulator, as a local blob endpoint for tests and `make demo-azure`.

Azurite is installed project-locally by ``make azurite`` (``tools/azurite``, pinned by its
package-lock). :func:`start_azurite` runs its blob service on a free loopback port (port 0, read
back from its startup line) and returns what a client needs: the endpoint, a storage connection
string, deltalake storage options and the ``RETAIL_ASSETS_*`` environment that puts the lake on it.
The process dies with its parent (see ``processes.py``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from retail_assets_tests.azure.processes import ServerProcess, spawn, wait_for_output

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's fixed development account and its published key (not a secret: every Azurite has it)."""

STORAGE_OPTION_PREFIX = "RETAIL_ASSETS_STORAGE_OPTION_"


class AzuriteMissing(RuntimeError):
    pass


@dataclass
class Azurite:
    server: ServerProcess
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """An Azure Storage connection string, the form BlobCheckpointStore and the SDKs take."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def storage_options(self) -> dict[str, str]:
        """deltalake (object_store) options for this endpoint: shared key, explicit endpoint, plain HTTP."""
        return {
            "azure_storage_account_name": ACCOUNT,
            "azure_storage_account_key": ACCOUNT_KEY,
            "azure_storage_endpoint": self.blob_endpoint,
            "allow_http": "true",
        }

    def lake_env(self, container: str, prefix: str) -> dict[str, str]:
        """Environment that puts the project's lake at ``az://<container>/<prefix>`` on this Azurite."""
        env = {"RETAIL_ASSETS_LAKE_ROOT": f"az://{container}/{prefix.strip('/')}"}
        env.update({STORAGE_OPTION_PREFIX + k.upper(): v for k, v in self.storage_options().items()})
        return env

    def create_container(self, name: str) -> None:
        """Create a blob container (idempotent). The blob client is the one azure-eventhub-checkpointstoreblob
        ships (vendored azure-storage-blob), so no second storage SDK is installed for tests."""
        from azure.core.exceptions import ResourceExistsError
        from azure.eventhub.extensions.checkpointstoreblob._vendor.storage.blob import BlobServiceClient

        with (
            BlobServiceClient.from_connection_string(self.connection_string) as service,
            contextlib.suppress(ResourceExistsError),
        ):
            service.create_container(name)

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        from azure.eventhub.extensions.checkpointstoreblob._vendor.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(self.connection_string) as service:
            client = service.get_container_client(container)
            return [b.name for b in client.list_blobs(name_starts_with=prefix or None)]

    def stop(self) -> None:
        self.server.stop()


def start_azurite(workdir: Path, location: Path | None = None, timeout_s: float = 60.0,
                  max_lifetime_s: float = 1800.0) -> Azurite:
    """Start Azurite's blob service on a free loopback port.

    ``location`` keeps the data on disk (the demo); without it the data live in memory and vanish
    with the process (tests). Startup is the slow part (~1–4 s, Node loading), so tests share one.
    """
    if not AZURITE_BLOB.exists():
        raise AzuriteMissing(
            f"Azurite is not installed ({AZURITE_BLOB} is missing); run `make azurite` "
            "(npm ci in tools/azurite; `make test` does it)."
        )
    argv = [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", "0", "--skipApiVersionCheck", "--loose",
            "--disableProductStyleUrl", "--disableTelemetry", "--silent"]
    if location is None:
        argv.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        argv += ["--location", str(location)]
    env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}  # the well-known account only
    server = spawn("Azurite", argv, workdir / "azurite.log", cwd=workdir, env=env, max_lifetime_s=max_lifetime_s)
    match = wait_for_output(server, r"Blob service successfully listens on http://127\.0\.0\.1:(\d+)", timeout_s)
    return Azurite(server, int(match.group(1)))
