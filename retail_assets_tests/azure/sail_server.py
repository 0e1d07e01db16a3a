"""Sail (``pysail``) as its own Spark Connect server process, the way a cluster endpoint is used.

The project's Spark engine normally talks to an in-process Sail server; here the server is a
separate process (``sail spark server``) reached only through ``sc://host:port``, so the test
exercises exactly what ``RETAIL_ASSETS_SPARK_REMOTE`` does against a cluster. Its environment
carries the object-store settings Sail reads (``AZURE_STORAGE_*``). It dies with its parent.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from retail_assets_tests.azure.processes import ServerProcess, spawn, wait_for_output

SAIL = Path(sys.executable).with_name("sail")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SailServer:
    server: ServerProcess
    port: int

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_sail(workdir: Path, env: dict[str, str] | None = None, timeout_s: float = 60.0,
               max_lifetime_s: float = 900.0) -> SailServer:
    """``sail spark server`` on a free loopback port; waits until the port accepts connections."""
    import time

    port = free_port()
    server = spawn(
        "Sail Spark Connect server", [str(SAIL), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
        workdir / "sail.log", cwd=workdir, env={**os.environ, **(env or {})}, max_lifetime_s=max_lifetime_s,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.alive():
        if _listening(port):
            return SailServer(server, port)
        time.sleep(0.1)
    wait_for_output(server, r"(?!)", 0)  # raises with the server's output
    raise AssertionError("unreachable")
