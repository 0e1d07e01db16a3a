"""Fast tests of the end-to-end harness itself (no Dagster server, no browser; not marked e2e).

They guard what the slow test relies on: its GraphQL documents match the installed schema (a
Dagster upgrade that renames a field fails here in a second, not after minutes of waiting), the
server's whole process group really dies, and a timed-out wait says what it saw.
"""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import psutil
import pytest
from dagster_graphql.schema import create_schema
from graphql import build_schema, parse, validate

from retail_assets_tests.e2e import graphql_api
from retail_assets_tests.e2e.conftest import e2e_environment
from retail_assets_tests.e2e.server import DagsterDev, E2EError, wait_for


def _documents() -> list[str]:
    tree = ast.parse(Path(graphql_api.__file__).read_text())
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text.startswith(("query", "mutation", "{")) and "{" in text:
                docs.append(text)
    return docs


def test_graphql_documents_are_valid_for_the_installed_dagster() -> None:
    schema = build_schema(str(create_schema()))
    docs = _documents()
    assert len(docs) >= 13
    problems = {doc.splitlines()[0]: [e.message for e in validate(schema, parse(doc))] for doc in docs}
    assert not {k: v for k, v in problems.items() if v}


STUBBORN_TREE = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
kids = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(2)]
time.sleep(600)
"""


def test_stop_kills_the_whole_process_group_even_when_sigint_is_ignored(tmp_path) -> None:
    server = DagsterDev(
        repo_root=tmp_path, env={}, log_path=tmp_path / "log.txt", argv=[sys.executable, "-c", STUBBORN_TREE]
    )
    server.start()
    assert server.process is not None
    leader = psutil.Process(server.process.pid)
    kids = wait_for(
        "the stand-in to start its children", lambda: (c := leader.children()) and len(c) == 2 and c, 30, 0.1
    )
    pids = [leader.pid, *(k.pid for k in kids)]
    server.stop(grace_s=0.5)
    survivors = [
        p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert survivors == []
    assert server.process is None


def test_wait_for_fails_with_what_it_waited_for_and_the_diagnostics() -> None:
    started = time.monotonic()
    with pytest.raises(E2EError, match=r"waiting for the answer\.[\s\S]*sensor said no"):
        wait_for(
            "the answer", lambda: None, timeout_s=0.3, interval_s=0.1, on_timeout=lambda: "sensor said no"
        )
    assert time.monotonic() - started < 30


def test_wait_for_returns_the_first_truthy_value_and_survives_probe_errors() -> None:
    calls = iter([RuntimeError("server starting"), None, {"ok": 1}])

    def probe():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for("ok", probe, timeout_s=10, interval_s=0.01) == {"ok": 1}


def test_environment_points_everything_at_the_temporary_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RETAIL_ASSETS_LAKE_ROOT", "/somewhere/else")
    monkeypatch.setenv("DAGSTER_HOME", "/the/developers/instance")
    env = e2e_environment(tmp_path / "home")
    assert env["RETAIL_ASSETS_HOME"] == str((tmp_path / "home").resolve())
    assert env["DAGSTER_HOME"] == str((tmp_path / "home" / "dagster_home").resolve())
    assert "RETAIL_ASSETS_LAKE_ROOT" not in env, "the lake must live in the temporary home"
    assert env["RETAIL_ASSETS_SCALE_FACTOR"] == "0.01"


def test_the_server_gets_a_default_sigint_even_when_the_test_process_ignores_it(tmp_path) -> None:
    """Background jobs of a non-interactive shell start with SIGINT ignored, and a child inherits
    that: the polite first stop signal would then do nothing. The server must start with it reset."""
    import signal

    report = tmp_path / "sigint.txt"
    probe = f"import signal, pathlib; pathlib.Path({str(report)!r}).write_text(repr(signal.getsignal(signal.SIGINT)))"
    server = DagsterDev(repo_root=tmp_path, env={}, log_path=tmp_path / "log.txt", argv=[sys.executable, "-c", probe])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert server.process is not None and server.process.wait(30) == 0
        assert "default_int_handler" in report.read_text()  # Python installs it only when not ignored
    finally:
        server.stop(grace_s=0.5)
