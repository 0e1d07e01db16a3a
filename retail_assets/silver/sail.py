"""An in-process Sail (``pysail``) Spark Connect server for local runs and tests.

Why in-process: Sail starts in well under a second and needs no JVM, so the Spark engine can be
exercised on a laptop and in CI exactly as on a cluster (through Spark Connect). One server per
process, started on first use and stopped at interpreter exit; DuckDB-only runs never call this.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping

_lock = threading.Lock()
_server = None


def local_sail_url() -> str:
    """``sc://host:port`` of this process's Sail server, starting it on first call."""
    global _server
    with _lock:
        if _server is None or not _server.running:
            from pysail.spark import SparkConnectServer

            from retail_assets.lake.delta import storage_options

            for key, value in object_store_env(storage_options() or {}).items():
                os.environ.setdefault(key, value)  # the in-process server reads this process's env
            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
            atexit.register(server.stop)
            _server = server
        address = _server.listening_address
    if address is None:
        raise RuntimeError(
            "the in-process Sail server did not report a listening address; set "
            "RETAIL_ASSETS_SPARK_REMOTE=sc://host:port to use an external Spark Connect server instead"
        )
    host, port = address
    return f"sc://{host}:{port}"


def spark_connect_session(remote: str = "", config: dict[str, str] | None = None):
    """A new Spark Connect session to ``remote`` (default: the local Sail server), time zone UTC.

    Why ``create`` and not ``getOrCreate``: pyspark's Connect builder returns the process's active
    session whatever remote it is asked for, so a process that had a session to the local Sail
    server and then asked for ``sc://cluster`` silently kept querying the local one — and stopping
    "its" session stopped the other user's (seen as ``NO_ACTIVE_SESSION`` in the Silver tests when
    the separate-server test ran in the same process first). Callers keep the session they get
    (the Spark resource creates one per run), so a new one per call costs one channel."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(remote or local_sail_url())
    for key, value in {"spark.sql.session.timeZone": "UTC", **(config or {})}.items():
        builder = builder.config(key, value)
    return builder.create()


_ENV_OF_OPTION = {"allow_http": ("AZURE_ALLOW_HTTP", "AWS_ALLOW_HTTP")}
"""Options without a provider prefix: set for every provider (only the lake's is read)."""


def object_store_env(options: Mapping[str, str]) -> dict[str, str]:
    """The environment a Sail server needs to reach the lake that ``options`` (deltalake storage options) reach.

    Why: deltalake takes storage options per call, but Sail (like object_store's ``from_env``) reads
    ``AZURE_*`` / ``AWS_*`` / ``GOOGLE_*`` variables. Provider keys map to their upper-cased names
    (``azure_storage_account_key`` → ``AZURE_STORAGE_ACCOUNT_KEY``). The in-process server gets them
    automatically; a separate server (``RETAIL_ASSETS_SPARK_REMOTE``) must be started with them.
    """
    env: dict[str, str] = {}
    for key, value in options.items():
        key = key.lower()
        if key.startswith(("azure_", "aws_", "google_")):
            env[key.upper()] = value
        for name in _ENV_OF_OPTION.get(key, ()):
            env[name] = value
    return env
