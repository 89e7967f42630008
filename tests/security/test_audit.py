"""Every disclosure of a database's credentials is audited, by whom, without the password.

tests/integration/test_api_databases.py already shows one read recording one
`credentials.read` event with a `key:` actor and no password in the event or the log.
Here: the actor is the very key that read (two keys, two actors), every read counts,
refused reads (viewer, another project, Secret not there yet) record nothing, no row of
any table holds the password afterwards, and the audit comes BEFORE the disclosure: when
the event cannot be written, the caller gets no password.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from services.clients import postgres
from services.store import keys
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
)
from tests.fixtures_sim import SimCluster
from tests.security.test_keys import every_row_as_text

PASSWORD = "Audit-Me-N0t-Log-Me-7f3a"
KIND = "credentials.read"


def key_id(database_url: str, token: str) -> str:
    with postgres.connect(database_url) as conn:
        principal = keys.authenticate(conn, token)
    assert principal is not None
    return str(principal.key_id)


def make_secret(sim: SimCluster, name: str) -> None:
    sim.create_namespace("dbaas-alpha")
    k8s.CoreV1Api(sim.api_client()).create_namespaced_secret(
        "dbaas-alpha",
        {
            "metadata": {"name": f"{name}-auth"},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "postgres", "password": PASSWORD},
        },
    )


def audit_events(client: httpx.Client, database_id: str) -> list[dict[str, Any]]:
    items = client.get(f"/v1/databases/{database_id}/events", params={"limit": 100}).json()
    return [event for event in items["items"] if event["kind"] == KIND]


@pytest.fixture(name="database")
def database_fixture(api: LiveApi, sim: SimCluster) -> Iterator[str]:
    with api.client(api.key()) as client:
        database_id: str = create(client, "orders")["id"]
    make_secret(sim, "orders")
    yield database_id


def test_each_read_is_one_event_naming_the_key_that_read(api: LiveApi, database: str) -> None:
    first, second = api.key(role="operator"), api.key(role="admin")
    path = f"/v1/databases/{database}/credentials"
    with api.client(first) as one, api.client(second) as two:
        answers = [one.get(path), two.get(path), one.get(path)]
        audit = audit_events(one, database)
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert all(r.json()["password"] == PASSWORD for r in answers)
    assert [e["actor"] for e in audit] == [
        f"key:{key_id(api.database_url, token)}" for token in (first, second, first)
    ]
    for event in audit:
        assert event["database_id"] == database
        assert PASSWORD not in str(event)
        assert event["details"] == {"secret": "dbaas-alpha/orders-auth"}


def test_a_refused_read_discloses_nothing_and_records_nothing(
    api: LiveApi, database: str, sim: SimCluster
) -> None:
    path = f"/v1/databases/{database}/credentials"
    with api.client(api.key(role="viewer")) as viewer:
        forbidden = viewer.get(path)
    with api.client(api.key(role="admin", project="beta")) as stranger:
        elsewhere = stranger.get(path)
    with api.client(api.key()) as client:
        no_secret_yet = create(client, "fresh")["id"]
        not_ready = client.get(f"/v1/databases/{no_secret_yet}/credentials")
        audit = audit_events(client, database) + audit_events(client, no_secret_yet)
    assert_problem(forbidden, 403, "forbidden")
    assert_problem(elsewhere, 404, "not-found")
    assert_problem(not_ready, 409, "credentials-not-ready")
    for response in (forbidden, elsewhere, not_ready):
        assert PASSWORD not in response.text
    assert audit == []


def test_after_reads_no_row_of_any_table_holds_the_password(api: LiveApi, database: str) -> None:
    with api.client(api.key()) as client:
        for _ in range(3):
            assert client.get(f"/v1/databases/{database}/credentials").status_code == 200
    dump = every_row_as_text(api.database_url)
    assert KIND in dump
    assert PASSWORD not in dump


def test_when_the_audit_cannot_be_written_the_password_is_not_disclosed(
    api: LiveApi, database: str
) -> None:
    with postgres.connect(api.database_url) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON events FOR EACH ROW"
            " WHEN (NEW.kind = 'credentials.read') EXECUTE FUNCTION refuse_audit()"
        )
    with api.client(api.key()) as client:
        response = client.get(f"/v1/databases/{database}/credentials")
    assert response.status_code >= 500
    assert response.headers["content-type"] == "application/problem+json"
    assert PASSWORD not in response.text
