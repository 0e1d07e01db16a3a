"""`make demo-azure`: the demo with the Delta lake on Azure Storage, through a local Azurite.

Starts Azurite's blob service (data under ``$RETAIL_ASSETS_HOME/azurite``, so the lake survives
between runs like the local one), creates the lake and checkpoint containers, and runs
``retail-assets demo`` with ``RETAIL_ASSETS_LAKE_ROOT=az://retail-lake/lake`` and the storage options
in ``RETAIL_ASSETS_STORAGE_OPTION_*`` — exactly the settings a real storage account takes. Azurite
stops when the demo ends (or when this script dies). Arguments go to ``retail-assets demo``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from retail_assets.streaming.sinks.checkpoints import CONNECTION_ENV, CONTAINER_ENV
from retail_assets_tests.azure.azurite import start_azurite

LAKE_CONTAINER = "retail-lake"
CHECKPOINT_CONTAINER = "eventhub-checkpoints"


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("RETAIL_ASSETS_HOME", ".retail-azure")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    azurite = start_azurite(home, location=home / "azurite")
    try:
        for container in (LAKE_CONTAINER, CHECKPOINT_CONTAINER):
            azurite.create_container(container)
        env = {
            **os.environ,
            "RETAIL_ASSETS_HOME": str(home),
            **azurite.lake_env(LAKE_CONTAINER, "lake"),
            CONTAINER_ENV: CHECKPOINT_CONTAINER,
            CONNECTION_ENV: azurite.connection_string,
        }
        print(f"Azurite blob service on {azurite.blob_endpoint} (data in {home / 'azurite'}); "
              f"lake {env['RETAIL_ASSETS_LAKE_ROOT']}", flush=True)
        started = time.perf_counter()
        cli = Path(sys.executable).with_name("retail-assets")
        code = subprocess.call([str(cli), "demo", *argv], env=env)
        print(f"demo on Azurite: {time.perf_counter() - started:.1f} s (exit {code})", flush=True)
        return code
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
