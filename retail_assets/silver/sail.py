"""An in-process Sail (``pysail``) Spark Connect server for local runs and tests.

Why in-process: Sail starts in well under a second and needs no JVM, so the Spark engine can be
exercised on a laptop and in CI exactly as on a cluster (through Spark Connect). One server per
process, started on first use and stopped at interpreter exit; DuckDB-only runs never call this.
"""

from __future__ import annotations

import atexit
import threading

_lock = threading.Lock()
_server = None


def local_sail_url() -> str:
    """``sc://host:port`` of this process's Sail server, starting it on first call."""
    global _server
    with _lock:
        if _server is None or not _server.running:
            from pysail.spark import SparkConnectServer

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
    """A Spark Connect session to ``remote`` (default: the local Sail server), time zone UTC."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(remote or local_sail_url())
    for key, value in {"spark.sql.session.timeZone": "UTC", **(config or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
