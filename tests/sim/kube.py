"""Shared helpers for the simulator's conformance tests: manifests and official-client calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures_sim import EXAMPLES_DIR, SimCluster

DB_GROUP, DB_VERSION = "kubedb.com", "v1"
OPS_GROUP, OPS_VERSION = "ops.kubedb.com", "v1alpha1"
CATALOG_GROUP, CATALOG_VERSION = "catalog.kubedb.com", "v1alpha1"
NS = "demo"


def postgres(
    name: str,
    *,
    version: str = "16.4",
    replicas: int = 1,
    storage: str = "1Gi",
    policy: str = "Delete",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "kubedb.com/v1",
        "kind": "Postgres",
        "metadata": metadata,
        "spec": {
            "version": version,
            "replicas": replicas,
            "storageType": "Durable",
            "storage": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": storage}},
            },
            "deletionPolicy": policy,
        },
    }


def ops_request(kind: str, name: str, db: str, op_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ops.kubedb.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"type": op_type, "databaseRef": {"name": db}, **fields},
    }


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES_DIR / name).read_text())
    return loaded


def example_names() -> list[str]:
    return sorted(path.name for path in Path(EXAMPLES_DIR).glob("*.yaml"))


def status_of(error: ApiException) -> dict[str, Any]:
    """The Kubernetes Status body of a failed call."""
    body: dict[str, Any] = json.loads(error.body)
    return body


def expect_error(code: int, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    assert caught.value.status == code, caught.value.body
    status = status_of(caught.value)
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == code
    return status


class Kube:
    """The official APIs bound to one simulated cluster, plus namespaced shortcuts."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        api = sim.api_client()
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)

    def namespace(self, name: str = NS) -> str:
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def create_db(
        self, body: dict[str, Any], *, plural: str = "postgreses", namespace: str = NS
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            DB_GROUP, DB_VERSION, namespace, plural, body
        )
        return result

    def ready_db(
        self, body: dict[str, Any], *, plural: str = "postgreses", namespace: str = NS
    ) -> dict[str, Any]:
        """Create a database and wait until the operator is done with it (Ready, observed)."""
        self.create_db(body, plural=plural, namespace=namespace)
        return self.wait_db_phase(
            body["metadata"]["name"], "Ready", plural=plural, namespace=namespace
        )

    def get_db(
        self, name: str, *, plural: str = "postgreses", namespace: str = NS
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            DB_GROUP, DB_VERSION, namespace, plural, name
        )
        return result

    def create_ops(
        self, body: dict[str, Any], *, plural: str = "postgresopsrequests", namespace: str = NS
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            OPS_GROUP, OPS_VERSION, namespace, plural, body
        )
        return result

    def get_ops(
        self, name: str, *, plural: str = "postgresopsrequests", namespace: str = NS
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            OPS_GROUP, OPS_VERSION, namespace, plural, name
        )
        return result

    def wait_db_phase(
        self,
        name: str,
        phase: str,
        *,
        plural: str = "postgreses",
        namespace: str = NS,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            db = self.get_db(name, plural=plural, namespace=namespace)
            return db if (db.get("status") or {}).get("phase") == phase else None

        return self.sim.wait_for(probe, timeout=timeout)

    def wait_ops_phase(
        self,
        name: str,
        phase: str,
        *,
        plural: str = "postgresopsrequests",
        namespace: str = NS,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            op = self.get_ops(name, plural=plural, namespace=namespace)
            return op if (op.get("status") or {}).get("phase") == phase else None

        return self.sim.wait_for(probe, timeout=timeout)

    def db_gone(self, name: str, *, plural: str = "postgreses", namespace: str = NS) -> bool:
        try:
            self.get_db(name, plural=plural, namespace=namespace)
        except ApiException as error:
            return error.status == 404
        return False


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
