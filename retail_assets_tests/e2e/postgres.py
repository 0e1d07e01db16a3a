"""A real PostgreSQL server for a test: the project's own ``scripts/local_postgres.sh``, on loopback.

Why through the script: it is what ``make ui|demo INSTANCE=postgres`` run, so the test covers it
too (initdb as the ``postgres`` user when we are root, loopback only, its own port, role and
database). The cluster lives in a fresh directory under /tmp, not under pytest's ``tmp_path``:
pytest makes its base directory private to root (0700), and the server runs as ``postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_assets_tests.e2e.server import E2EError, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "local_postgres.sh"


@dataclass
class LocalPostgres:
    """One private cluster started by ``scripts/local_postgres.sh``; ``stop()`` always cleans up."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="retail-pg-")))
    env: dict[str, str] = field(default_factory=dict)
    """The ``DAGSTER_PG_*`` variables ``dagster.postgres.yaml`` reads (filled by ``start``)."""

    @property
    def cluster(self) -> Path:
        return self.root / "cluster"

    def _script(self, command: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "RETAIL_ASSETS_PG_DIR": str(self.cluster),
            "RETAIL_ASSETS_PG_PORT": str(self.port),
        }
        return subprocess.run(
            ["bash", str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def start(self) -> None:
        self.root.chmod(0o711)  # the server's user must reach the cluster directory inside
        started = self._script("start")
        if started.returncode != 0:
            raise E2EError(f"local_postgres.sh start failed ({started.returncode}):\n{started.stderr}")
        exported = self._script("env")
        if exported.returncode != 0:
            raise E2EError(f"local_postgres.sh env failed:\n{exported.stderr}")
        for line in exported.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            self.env[name] = value

    def restart(self) -> None:
        """Stop and start the server (same port and data): every open connection is closed."""
        for command in ("stop", "start"):
            done = self._script(command)
            if done.returncode != 0:
                raise E2EError(f"local_postgres.sh {command} failed ({done.returncode}):\n{done.stderr}")

    def is_running(self) -> bool:
        return self._script("status").returncode == 0

    def connect(self) -> Any:
        import psycopg2

        return psycopg2.connect(
            host=self.env["DAGSTER_PG_HOST"],
            port=int(self.env["DAGSTER_PG_PORT"]),
            user=self.env["DAGSTER_PG_USER"],
            password=self.env["DAGSTER_PG_PASSWORD"],
            dbname=self.env["DAGSTER_PG_DB"],
        )

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the server (if it runs) and delete the cluster, also when stopping failed."""
        try:
            stopped = self._script("stop")
            if stopped.returncode != 0:
                raise E2EError(f"local_postgres.sh stop failed:\n{stopped.stderr}")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
