"""The few GraphQL operations the end-to-end test performs, as a user's browser would.

``DagsterGraphQLClient`` (dagster-graphql) covers run status, job submission and location reload;
backfills, sensors, asset check executions and run logs have no client method, so they go through
the same endpoint as raw GraphQL documents. Every call raises with the server's own error text
(``PythonError.message`` and stack) rather than returning ``None`` for a test to trip over later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from dagster_graphql import DagsterGraphQLClient

from retail_assets_tests.e2e.server import E2EError

AUTOMATION_TAG = "dagster/from_automation_condition"
SENSOR_TAG = "dagster/sensor_name"
BACKFILL_TAG = "dagster/backfill"


def _key(path: str | Sequence[str]) -> dict[str, list[str]]:
    return {"path": path.split("/") if isinstance(path, str) else list(path)}


@dataclass(frozen=True)
class RepoSelector:
    location: str
    repository: str

    def as_repository(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository}

    def sensor(self, name: str) -> dict[str, str]:
        return {**self.as_repository(), "sensorName": name}


class DagsterAPI:
    """Typed-enough access to one webserver's GraphQL endpoint."""

    def __init__(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        self.client = DagsterGraphQLClient(host, port_number=port, timeout=int(timeout_s))
        self.endpoint = f"http://{host}:{port}/graphql"
        self.timeout_s = timeout_s

    # -- transport -------------------------------------------------------------------------------
    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = requests.post(
            self.endpoint, json={"query": document, "variables": variables or {}}, timeout=self.timeout_s
        )
        if resp.status_code != 200:
            raise E2EError(f"GraphQL HTTP {resp.status_code}: {resp.text[:2000]}")
        body = resp.json()
        if body.get("errors"):
            raise E2EError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    @staticmethod
    def unwrap(result: dict[str, Any], expected: str) -> dict[str, Any]:
        """Return a union member of type ``expected`` or raise with the error member's text."""
        if result.get("__typename") != expected:
            msg = result.get("message", "")
            stack = "".join(result.get("stack") or [])
            raise E2EError(f"expected {expected}, got {result.get('__typename')}: {msg}\n{stack}")
        return result

    # -- workspace and daemon ----------------------------------------------------------------------
    def locations(self) -> list[dict[str, Any]]:
        data = self.query(
            """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
                 locationOrLoadError { __typename ... on PythonError { message stack }
                   ... on RepositoryLocation { name repositories { name } } } } }
                 ... on PythonError { message stack } } }"""
        )
        return self.unwrap(data["workspaceOrError"], "Workspace")["locationEntries"]

    def loaded_repository(self) -> RepoSelector | None:
        """The single repository once its location loaded; None while loading; raise on load error."""
        entries = self.locations()
        if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
            return None
        (entry,) = entries
        loc = entry["locationOrLoadError"]
        if loc["__typename"] == "PythonError":
            raise E2EError(
                f"code location {entry['name']} failed to load: {loc['message']}\n{''.join(loc['stack'])}"
            )
        (repo,) = loc["repositories"]
        return RepoSelector(entry["name"], repo["name"])

    def daemon_statuses(self) -> dict[str, dict[str, Any]]:
        data = self.query(
            """{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy
                 lastHeartbeatTime lastHeartbeatErrors { message } } } } }"""
        )
        return {d["daemonType"]: d for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}

    def dismiss_welcome_dialog(self) -> None:
        """Mark the first-visit newsletter dialog as seen (it would cover the page in screenshots)."""
        self.query("mutation { setNuxSeen }")

    # -- assets ------------------------------------------------------------------------------------
    def asset_nodes(self) -> list[dict[str, Any]]:
        data = self.query(
            """{ assetNodes { assetKey { path } groupName isPartitioned
                 assetChecksOrError { __typename ... on AssetChecks { checks { name blocking
                   partitionDefinition { description } } } } } }"""
        )
        return data["assetNodes"]

    def materializations(self, key: str, partitions: list[str]) -> list[dict[str, Any]]:
        data = self.query(
            """query($k: AssetKeyInput!, $p: [String!]) { assetOrError(assetKey: $k) { __typename
                 ... on Asset { assetMaterializations(partitions: $p) { runId partition timestamp
                   metadataEntries { label __typename ... on IntMetadataEntry { intValue } } } } } }""",
            {"k": _key(key), "p": partitions},
        )
        asset = data["assetOrError"]
        return asset["assetMaterializations"] if asset["__typename"] == "Asset" else []

    def partition_keys(self, key: str) -> list[str]:
        """The partition keys the UI offers for ``key`` (its partitions list, "Latest", backfills)."""
        data = self.query(
            """query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { __typename
                 ... on AssetNode { partitionKeys } } }""",
            {"k": _key(key)},
        )
        return self.unwrap(data["assetNodeOrError"], "AssetNode")["partitionKeys"]

    def check_executions(self, key: str, check: str, limit: int = 25) -> list[dict[str, Any]]:
        data = self.query(
            """query($k: AssetKeyInput!, $c: String!, $n: Int!) {
                 assetCheckExecutions(assetKey: $k, checkName: $c, limit: $n) { runId status partition
                   timestamp evaluation { success severity description
                     metadataEntries { label __typename ... on TextMetadataEntry { text }
                       ... on IntMetadataEntry { intValue } ... on JsonMetadataEntry { jsonString } } } } }""",
            {"k": _key(key), "c": check, "n": limit},
        )
        return data["assetCheckExecutions"]

    # -- runs launched as the Materialize button does ------------------------------------------------
    def launch_assets_run(self, repo: RepoSelector, asset_keys: Sequence[str], partition: str) -> str:
        """One run of ``asset_keys`` (with all their checks) for ``partition``: what the UI launches
        when a user picks one partition in the Materialize dialog; returns the run id."""
        return self.client.submit_job_execution(
            "__ASSET_JOB",
            repository_location_name=repo.location,
            repository_name=repo.repository,
            tags={"dagster/partition": partition},
            asset_selection=[key.split("/") for key in asset_keys],
        )

    def run_status(self, run_id: str) -> str:
        return self.client.get_run_status(run_id).value

    # -- backfills ---------------------------------------------------------------------------------
    def launch_backfill(self, asset_keys: Sequence[str], partitions: Sequence[str], title: str) -> str:
        data = self.query(
            """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
                 __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on Error { message } ... on PythonError { stack } } }""",
            {
                "p": {
                    "assetSelection": [_key(k) for k in asset_keys],
                    "partitionNames": list(partitions),
                    "title": title,
                }
            },
        )
        return self.unwrap(data["launchPartitionBackfill"], "LaunchBackfillSuccess")["backfillId"]

    def launch_job_backfill(self, repo: RepoSelector, job: str, partitions: Sequence[str], title: str) -> str:
        """A backfill of a partitioned op job (one run per partition): the job page's Backfill button."""
        data = self.query(
            """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
                 __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on Error { message } ... on PythonError { stack } } }""",
            {
                "p": {
                    "selector": {
                        "partitionSetName": f"{job}_partition_set",
                        "repositorySelector": {
                            "repositoryLocationName": repo.location,
                            "repositoryName": repo.repository,
                        },
                    },
                    "partitionNames": list(partitions),
                    "title": title,
                }
            },
        )
        return self.unwrap(data["launchPartitionBackfill"], "LaunchBackfillSuccess")["backfillId"]

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        data = self.query(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
                 ... on PartitionBackfill { id status numPartitions error { message stack }
                   runs { runId status jobName } }
                 ... on Error { message } } }""",
            {"id": backfill_id},
        )
        return self.unwrap(data["partitionBackfillOrError"], "PartitionBackfill")

    def backfills(self, status: str, limit: int = 20) -> list[dict[str, Any]]:
        """Backfills in one status (e.g. REQUESTED: asked for, runs not all submitted yet)."""
        data = self.query(
            """query($s: BulkActionStatus, $n: Int) { partitionBackfillsOrError(status: $s, limit: $n) {
                 __typename ... on PartitionBackfills { results { id status } }
                 ... on Error { message } } }""",
            {"s": status, "n": limit},
        )
        return self.unwrap(data["partitionBackfillsOrError"], "PartitionBackfills")["results"]

    # -- sensors -----------------------------------------------------------------------------------
    def sensor(self, repo: RepoSelector, name: str, ticks: int = 10) -> dict[str, Any]:
        data = self.query(
            """query($s: SensorSelector!, $n: Int) { sensorOrError(sensorSelector: $s) { __typename
                 ... on Sensor { name defaultStatus sensorState { status
                   ticks(limit: $n) { status timestamp skipReason runIds error { message stack } } } }
                 ... on Error { message } } }""",
            {"s": repo.sensor(name), "n": ticks},
        )
        return self.unwrap(data["sensorOrError"], "Sensor")

    def start_sensor(self, repo: RepoSelector, name: str) -> str:
        data = self.query(
            """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
                 ... on Sensor { sensorState { status } } ... on Error { message } } }""",
            {"s": repo.sensor(name)},
        )
        return self.unwrap(data["startSensor"], "Sensor")["sensorState"]["status"]

    def stop_sensor(self, repo: RepoSelector, name: str) -> None:
        sensor = self.query(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
                 ... on Sensor { jobOriginId sensorState { selectorId } } ... on Error { message } } }""",
            {"s": repo.sensor(name)},
        )["sensorOrError"]
        sensor = self.unwrap(sensor, "Sensor")
        data = self.query(
            """mutation($o: String!, $sel: String!) { stopSensor(jobOriginId: $o, jobSelectorId: $sel) {
                 __typename ... on Error { message } } }""",
            {"o": sensor["jobOriginId"], "sel": sensor["sensorState"]["selectorId"]},
        )
        self.unwrap(data["stopSensor"], "StopSensorMutationResult")

    # -- runs --------------------------------------------------------------------------------------
    def runs(
        self, tags: dict[str, str] | None = None, statuses: Sequence[str] | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        flt: dict[str, Any] = {}
        if tags:
            flt["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if statuses:
            flt["statuses"] = list(statuses)
        data = self.query(
            """query($f: RunsFilter, $n: Int) { runsOrError(filter: $f, limit: $n) { __typename
                 ... on Runs { results { runId jobName status startTime endTime tags { key value }
                   repositoryOrigin { repositoryLocationName repositoryName } } }
                 ... on Error { message } } }""",
            {"f": flt, "n": limit},
        )
        return self.unwrap(data["runsOrError"], "Runs")["results"]

    def run_errors(self, run_id: str, limit: int = 400) -> list[str]:
        """The error-level messages and step failures of one run, newest last."""
        data = self.query(
            """query($id: ID!, $n: Int) { logsForRun(runId: $id, limit: $n) { __typename
                 ... on EventConnection { events { __typename
                   ... on MessageEvent { message level stepKey }
                   ... on ErrorEvent { error { message stack } } } } } }""",
            {"id": run_id, "n": limit},
        )
        conn = data["logsForRun"]
        if conn["__typename"] != "EventConnection":
            return [f"(logs unavailable: {conn['__typename']})"]
        out = []
        for ev in conn["events"]:
            err = ev.get("error")
            if err:
                out.append(
                    f"[{ev.get('stepKey')}] {err['message']}\n{''.join(err.get('stack') or [])[-1500:]}"
                )
            elif ev.get("level") in ("ERROR", "CRITICAL"):
                out.append(f"[{ev.get('stepKey')}] {ev['message']}")
        return out

    def run_messages(self, run_id: str, limit: int = 400) -> list[str]:
        """Every message of one run's log (what the run page shows), oldest first."""
        data = self.query(
            """query($id: ID!, $n: Int) { logsForRun(runId: $id, limit: $n) { __typename
                 ... on EventConnection { events { ... on MessageEvent { message } } } } }""",
            {"id": run_id, "n": limit},
        )
        conn = data["logsForRun"]
        if conn["__typename"] != "EventConnection":
            raise RuntimeError(f"the logs of run {run_id} are unavailable: {conn['__typename']}")
        return [ev["message"] for ev in conn["events"] if ev.get("message")]

    def failure_report(self, limit: int = 5) -> str:
        """Recent failed runs with their errors: the text a failing e2e step appends."""
        failed = self.runs(statuses=["FAILURE"], limit=limit)
        if not failed:
            return "no failed runs."
        parts = []
        for run in failed:
            errors = self.run_errors(run["runId"]) or ["(no error events)"]
            parts.append(f"run {run['runId']} ({run['jobName']}) FAILED:\n  " + "\n  ".join(errors[-5:]))
        return "\n".join(parts)
