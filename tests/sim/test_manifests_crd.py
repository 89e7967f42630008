"""Every manifest the domain renders is accepted by the real KubeDB CRD schemas, strictly.

The CRDs from ../shared (or DBAAS_KUBEDB_DIR) when present, else the pack the sim ships,
which is generated from them (tests/sim/test_schemapack.py compares the two).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.domain import engines, manifests, naming
from services.domain.engines import Engine
from services.domain.specs import DatabaseSpec
from services.sim import schemapack, schemas

KUBEDB_DIR = Path(
    os.environ.get("DBAAS_KUBEDB_DIR")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "kubedb"
)
CRDS = KUBEDB_DIR / "crds"

DB_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
OP_ID = uuid.UUID("99999999-8888-7777-6666-555555555555")
VERSIONS = {
    Engine.POSTGRES: "16.4",
    Engine.MYSQL: "8.4.3",
    Engine.MONGODB: "8.0.10",
    Engine.REDIS: "7.4.1",
}
LONGEST_NAME = "d" * naming.MAX_NAME_LENGTH


def topologies() -> list[tuple[Engine, int]]:
    cases = []
    for engine, facts in engines.ENGINES.items():
        cases += [(engine, 1), (engine, facts.replicated.minimum), (engine, facts.max_replicas)]
    return cases


def spec(engine: Engine, replicas: int, **fields: Any) -> DatabaseSpec:
    base: dict[str, Any] = {
        "name": LONGEST_NAME,
        "engine": engine,
        "version": VERSIONS[engine],
        "replicas": replicas,
        "storage": "10Gi",
    }
    base.update(fields)
    return DatabaseSpec(**base)


def ops_cases() -> list[tuple[Engine, int, str, dict[str, Any], dict[str, Any]]]:
    cases: list[tuple[Engine, int, str, dict[str, Any], dict[str, Any]]] = []
    for engine, replicas in topologies():
        facts = engines.spec_for(engine)
        bounds = facts.bounds(facts.topology(replicas))
        targets = {bounds.minimum, bounds.maximum} - {replicas}
        if facts.scales_across_topologies:
            targets |= {1, facts.max_replicas} - {replicas}
        for target in sorted(targets):
            cases.append((engine, replicas, "scale", {"replicas": target}, {}))
        cases += [
            (engine, replicas, "resize", {"cpu": "1500m", "memory": "2Gi"}, {}),
            (engine, replicas, "resize", {"cpu": None, "memory": None}, {}),
            (engine, replicas, "resize", {"cpu": "0.7", "memory": None}, {}),
            (engine, replicas, "expand", {"storage": "20Gi"}, {}),
            (engine, replicas, "expand", {"storage": "20Gi"}, {"volume_expansion_mode": "Offline"}),
            (engine, replicas, "upgrade", {"version": "99.0.0"}, {}),
            (engine, replicas, "restart", {}, {}),
        ]
    return cases


@pytest.fixture(scope="module")
def registry() -> schemas.SchemaRegistry:
    if not CRDS.is_dir():  # a clone without ../shared: the schemas the sim ships
        return schemas.SchemaRegistry(schemapack.load("kubedb"))
    return schemas.SchemaRegistry.load(CRDS)


def assert_valid(registry: schemas.SchemaRegistry, obj: dict[str, Any]) -> dict[str, Any]:
    stored, causes = registry.validate(obj, strict=True)
    assert causes == [], f"{obj['kind']} {obj['metadata']['name']}: {causes}"
    return stored


def test_the_cases_cover_every_engine_topology_and_operation() -> None:
    cases = ops_cases()
    assert {(e, r > 1) for e, r, *_ in cases} == {(e, t) for e in Engine for t in (False, True)}
    assert {op for _, _, op, _, _ in cases} == set(naming.OPS_NAME_WORDS)
    scaled = {(e, r, p["replicas"]) for e, r, op, p, _ in cases if op == "scale"}
    assert (Engine.POSTGRES, 1, 9) in scaled and (Engine.POSTGRES, 9, 1) in scaled
    assert (Engine.MYSQL, 3, 9) in scaled and (Engine.REDIS, 5, 2) in scaled


@pytest.mark.parametrize(("engine", "replicas"), topologies())
@pytest.mark.parametrize(
    "resources", [{}, {"cpu": "250m"}, {"memory": "1Gi"}, {"cpu": "2", "memory": "4Gi"}]
)
def test_database_crs_validate_against_the_crd(
    registry: schemas.SchemaRegistry, engine: Engine, replicas: int, resources: dict[str, str]
) -> None:
    for policy in ("Delete", "Halt", "WipeOut", "DoNotTerminate"):
        value = spec(engine, replicas, deletion_policy=policy, **resources)
        obj = manifests.render_database(
            value,
            namespace=naming.project_namespace("p" * 40),
            database_id=DB_ID,
            project_id="p" * 40,
            generation=12,
            storage_class="standard",
        )
        stored = assert_valid(registry, obj)
        # Schema defaults may add fields; they never change what we rendered.
        assert manifests.observed_spec_from_cr(engine, stored) == (
            manifests.desired_observed_spec(value)
        )


@pytest.mark.parametrize(
    ("engine", "replicas", "op_type", "params", "options"),
    ops_cases(),
    ids=lambda value: (
        str(value) if not isinstance(value, dict) else "-".join(map(str, value.values())) or "none"
    ),
)
def test_ops_requests_validate_against_the_crd(
    registry: schemas.SchemaRegistry,
    engine: Engine,
    replicas: int,
    op_type: str,
    params: dict[str, Any],
    options: dict[str, Any],
) -> None:
    value = spec(engine, replicas)
    obj = manifests.render_ops_request(
        value,
        op_type,
        params,
        namespace="dbaas-team",
        name=naming.ops_request_name(value.name, OP_ID, op_type),
        database_id=DB_ID,
        operation_id=OP_ID,
        project_id="team",
        **options,
    )
    stored = assert_valid(registry, obj)
    assert stored["spec"]["type"] == obj["spec"]["type"]
    assert stored["spec"]["apply"] == obj["spec"]["apply"]


def test_the_check_is_real_a_wrong_field_for_the_engine_is_refused(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = manifests.render_ops_request(
        spec(Engine.MYSQL, 3),
        "scale",
        {"replicas": 5},
        namespace="dbaas-team",
        name="orders-scale-999999998888",
        database_id=DB_ID,
        operation_id=OP_ID,
        project_id="team",
    )
    obj["spec"]["horizontalScaling"] = {"replicas": 5}  # Postgres' field, not MySQL's
    obj["spec"]["apply"] = "Sometimes"
    _, causes = registry.validate(obj, strict=True)
    fields = {cause["field"] for cause in causes}
    assert "spec.horizontalScaling.replicas" in fields
    assert "spec.apply" in fields
