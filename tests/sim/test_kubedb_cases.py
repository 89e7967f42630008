"""The shared case table (tests/kubedb_cases.py), KubeDB's column, against the simulated KubeDB."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.kubedb_cases import CASES, Case
from tests.sim.kube import NS, Kube, ops_request, status_of

KINDS = {"postgres": ("Postgres", "postgreses"), "mysql": ("MySQL", "mysqls")}


def _database(case: Case, name: str) -> dict[str, Any]:
    start = case.start
    kind, _ = KINDS[case.engine]
    return {
        "apiVersion": "kubedb.com/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "version": start["version"],
            "replicas": start["replicas"],
            "storageType": "Durable",
            "storage": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": start["storage"]}},
            },
            "deletionPolicy": start.get("deletion_policy", "Delete"),
        },
    }


def _ops(case: Case, db: str) -> dict[str, Any]:
    kind, _ = KINDS[case.engine]
    change = case.change or {}
    container = case.engine
    if "replicas" in change:
        field = "member" if case.engine == "mysql" else "replicas"
        fields: dict[str, Any] = {"horizontalScaling": {field: change["replicas"]}}
        op_type = "HorizontalScaling"
    elif "storage" in change:
        fields = {"volumeExpansion": {container: change["storage"], "mode": "Online"}}
        op_type = "VolumeExpansion"
    else:
        fields = {"updateVersion": {"targetVersion": change["version"]}}
        op_type = "UpdateVersion"
    return ops_request(f"{kind}OpsRequest", f"{db}-change", db, op_type, **fields)


def _refusal(error: ApiException) -> str:
    return str(status_of(error)["message"])


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_kubedb_does_what_the_table_says(kube: Kube, case: Case) -> None:
    kind, plural = KINDS[case.engine]
    name = "db-" + case.id[:40].rstrip("-")
    body = _database(case, name)
    if case.change is None:
        if case.kubedb.accepted:
            kube.ready_db(body, plural=plural)
        else:
            with pytest.raises(ApiException) as refused:
                kube.create_db(body, plural=plural)
            assert case.kubedb.says in _refusal(refused.value)
        return
    kube.ready_db(body, plural=plural)
    if case.change.get("delete"):
        call = kube.custom.delete_namespaced_custom_object
        if case.kubedb.accepted:
            call("kubedb.com", "v1", NS, plural, name)
            kube.sim.wait_for(lambda: kube.db_gone(name, plural=plural))
        else:
            with pytest.raises(ApiException) as refused:
                call("kubedb.com", "v1", NS, plural, name)
            assert refused.value.status == 403
            assert case.kubedb.says in _refusal(refused.value)
        return
    ops_plural = f"{kind.lower()}opsrequests"
    op = _ops(case, name)
    op_name = op["metadata"]["name"]
    if case.kubedb.accepted:
        kube.create_ops(op, plural=ops_plural)
        kube.wait_ops_phase(op_name, "Successful", plural=ops_plural)
        return
    try:  # KubeDB refuses some at the OpsRequest webhook, fails others when they run
        kube.create_ops(op, plural=ops_plural)
    except ApiException as refused:
        assert refused.status == 403
        assert case.kubedb.says in _refusal(refused)
        return
    failed = kube.wait_ops_phase(op_name, "Failed", plural=ops_plural)
    messages = [
        c.get("message", "") for c in failed["status"]["conditions"] if c["type"] == "Failed"
    ]
    assert any(case.kubedb.says in message for message in messages), messages
