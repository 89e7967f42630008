"""`dbaas sim --state FILE`: the cluster outlives the sim process; without it, it starts empty."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from tests.fixtures_sim import SimCluster, SimServer, start_server, stop_server
from tests.sim.kube import NS, Kube, ops_request, postgres


def _kube(server: SimServer) -> Kube:
    return Kube(SimCluster(server))


def _start(workdir: Path, cache: Path, *extra: str) -> SimServer:
    workdir.mkdir(parents=True, exist_ok=True)
    return start_server(workdir, cache, *extra)


def test_objects_survive_a_restart_with_their_resource_versions(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    first = _start(tmp_path / "one", tmp_path / "cache", "--state", str(state))
    try:
        kube = _kube(first)
        kube.namespace()
        kube.ready_db(postgres("pg-kept", replicas=1))
        kube.create_ops(
            ops_request("PostgresOpsRequest", "scale-kept", "pg-kept", "HorizontalScaling",
                        horizontalScaling={"replicas": 3})
        )  # fmt: skip
        kube.wait_ops_phase("scale-kept", "Successful")
        before = kube.get_db("pg-kept")
        secret = kube.core.read_namespaced_secret("pg-kept-auth", NS)
    finally:
        assert stop_server(first) == 0
    assert json.loads(state.read_bytes())["format"] == 1

    second = _start(tmp_path / "two", tmp_path / "cache", "--state", str(state))
    try:
        assert "objects restored" in second.log.read_text()
        kube = _kube(second)
        after = kube.get_db("pg-kept")
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["spec"]["replicas"] == 3
        assert after["status"]["phase"] == "Ready"
        assert kube.get_ops("scale-kept")["status"]["phase"] == "Successful"
        kept = kube.core.read_namespaced_secret("pg-kept-auth", NS)
        assert kept.data == secret.data
        # An old resourceVersion is too old now: clients relist, as after an etcd restore.
        path = f"/apis/kubedb.com/v1/namespaces/{NS}/postgreses?watch=true&resourceVersion=1"
        with urllib.request.urlopen(second.url + path + "&timeoutSeconds=1", timeout=30) as r:
            first_event = json.loads(r.read().splitlines()[0])
        assert first_event["type"] == "ERROR" and first_event["object"]["code"] == 410
        # The restored cluster keeps working: a new database goes Ready, a delete finishes.
        kube.ready_db(postgres("pg-new"))
        kube.custom.delete_namespaced_custom_object("kubedb.com", "v1", NS, "postgreses",
                                                    "pg-kept")  # fmt: skip
        kube.sim.wait_for(lambda: kube.db_gone("pg-kept"))
    finally:
        assert stop_server(second) == 0

    third = _start(tmp_path / "three", tmp_path / "cache")
    try:
        names = [n.metadata.name for n in client.CoreV1Api(_kube(third).api).list_namespace().items]
        assert NS not in names  # without --state the sim starts empty
    finally:
        stop_server(third)


def test_an_unreadable_state_file_stops_the_start_with_one_message(tmp_path: Path) -> None:
    state = tmp_path / "broken.json"
    state.write_text("{not json")
    with pytest.raises(RuntimeError) as failed:
        _start(tmp_path / "one", tmp_path / "cache", "--state", str(state))
    assert f"dbaas sim: {state} is not JSON" in str(failed.value)
