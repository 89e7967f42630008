"""A client generated from /openapi.json by openapi-python-client drives a whole flow.

So a schema that generated clients cannot use (an untyped `status.observed`, a closed enum
that a new value would break, a body the generator cannot model) fails here: the typed
models must parse every answer of create, wait, scale, credentials and delete.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.control_plane import Plane, control_plane, wait_for
from tests.fixtures_sim import SimCluster

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
ENDED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path) as running:
        yield running


@pytest.fixture
def generated(plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The package openapi-python-client generates from the running API's document."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{plane.api.url}/openapi.json").content)
    output = tmp_path / "generated" / "dbaas_client"
    env = dict(os.environ, PATH=f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--meta",
            "none",
            "--path",
            str(document),
            "--output-path",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # nothing of the document skipped
    monkeypatch.syspath_prepend(str(output.parent))
    for name in [m for m in sys.modules if m.startswith("dbaas_client")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("dbaas_client")


@pytest.fixture
def client(plane: Plane, generated: Any) -> Iterator[Any]:
    with generated.AuthenticatedClient(base_url=plane.api.url, token=plane.key) as authenticated:
        yield authenticated


def test_a_generated_client_creates_waits_scales_reads_credentials_and_deletes(
    client: Any,
) -> None:
    api = importlib.import_module("dbaas_client.api.databases")
    operations = importlib.import_module("dbaas_client.api.operations")
    for name in ("create_database", "get_database", "update_database", "get_credentials"):
        importlib.import_module(f"dbaas_client.api.databases.{name}")
    importlib.import_module("dbaas_client.api.databases.delete_database")
    importlib.import_module("dbaas_client.api.operations.get_operation")
    models = importlib.import_module("dbaas_client.models")

    def settled(operation_id: Any) -> Any:
        def ended() -> Any:
            op = operations.get_operation.sync(operation_id, client=client)
            assert isinstance(op, models.Operation), op
            return op if op.state.value in ENDED else None

        op = wait_for(ended, timeout=60, what=f"operation {operation_id}")
        assert op.state.value == "succeeded", op.error
        return op

    def ready(database_id: Any) -> Any:
        def check() -> Any:
            db = api.get_database.sync(database_id, client=client)
            assert isinstance(db, models.Database), db
            caught_up = db.status.observed_generation is not None and (
                db.status.observed_generation >= db.generation
            )
            return db if db.state.value == "ready" and caught_up else None

        return wait_for(check, timeout=60, what=f"database {database_id} ready")

    body = models.DatabaseCreate(
        name="orders",
        engine=models.DatabaseCreateEngine.POSTGRES,
        version="16.13",
        storage="10Gi",
    )
    accepted = api.create_database.sync(client=client, body=body)
    assert isinstance(accepted, models.DatabaseAccepted), accepted
    (create,) = accepted.operations
    assert create.type_.value == "create"
    settled(create.id)
    db = ready(accepted.id)
    assert db.status.observed is not None and db.status.observed.version == "16.13"
    assert "Ready" in [condition.type_ for condition in db.status.conditions]

    changed = api.update_database.sync(
        accepted.id, client=client, body=models.DatabasePatch(replicas=3)
    )
    assert isinstance(changed, models.DatabaseAccepted), changed
    (scale,) = changed.operations
    assert settled(scale.id).params.replicas == 3
    scaled = ready(accepted.id)
    assert scaled.status.observed.replicas == 3  # typed: the failing attribute

    credentials = api.get_credentials.sync(accepted.id, client=client)
    assert isinstance(credentials, models.Credentials), credentials
    assert credentials.username == "postgres" and credentials.password

    stale = api.update_database.sync(
        accepted.id, client=client, body=models.DatabasePatch(replicas=2), if_match='"0-0"'
    )
    assert isinstance(stale, models.Problem), stale
    assert stale.status == 412 and stale.type_.endswith("/precondition-failed")

    deleted = api.delete_database.sync(accepted.id, client=client)
    assert isinstance(deleted, models.DatabaseAccepted), deleted
    settled(deleted.operations[0].id)
    gone = api.get_database.sync_detailed(accepted.id, client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.Problem) and gone.parsed.type_.endswith("/not-found")

    # Problem.type is open: a type added after the client was generated still parses.
    future = models.Problem.from_dict(
        {
            "type": "https://dbaas.dev/problems/from-the-future",
            "title": "t",
            "status": 418,
            "detail": "d",
            "instance": "/v1/x",
        }
    )
    assert future.type_ == "https://dbaas.dev/problems/from-the-future"
