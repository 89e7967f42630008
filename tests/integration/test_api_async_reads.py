"""The event-loop reads: GET one database and a page of databases, once the key is cached.

A key's first request authenticates it in a worker thread and reads there (`Backends.call`);
its next reads of these two kinds run on the loop, on the asyncio pool (`Backends.read`).
Both paths must answer byte for byte the same, 404s and cursors included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.types.json import Jsonb

from services.api.app import create_app
from services.api.backends import Backends
from services.clients import postgres
from services.store import databases, keys
from tests.api_harness import ServerThread, api_settings, free_port

DESIRED = {
    "version": "16.4",
    "replicas": 2,
    "storage": "10Gi",
    "deletion_policy": "Delete",
    "drift_policy": "correct",
}
CONDITIONS = [{"type": "Ready", "status": "True", "reason": "AllReplicasReady", "n": 2**40}]


class Server:
    def __init__(self, thread: ServerThread, database_url: str) -> None:
        self.thread = thread
        self.database_url = database_url

    @property
    def backends(self) -> Backends:
        backends: Backends = self.thread.app.state.backends
        return backends

    def loop_reads(self) -> int:
        """How many connections the asyncio pool has handed out so far."""
        return self.backends.async_pool.get_stats().get("requests_num", 0)

    def fresh_client(self, project: str = "alpha") -> httpx.Client:
        """A client whose key the server has never seen: its first request is uncached."""
        with postgres.connect(self.database_url) as conn:
            token = keys.create(conn, project_id=project, role="viewer")
        return httpx.Client(
            base_url=self.thread.url, headers={"Authorization": f"Bearer {token}"}, timeout=20.0
        )


@pytest.fixture(name="server")
def server_fixture(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Server]:
    settings = api_settings(database_url, redis_url, tmp_path)
    thread = ServerThread(create_app(settings, auth_ttl=60.0), free_port())
    thread.start()
    try:
        yield Server(thread, database_url)
    finally:
        thread.stop()


def insert(database_url: str, name: str, *, project: str = "alpha", state: str = "") -> str:
    database_id = uuid.uuid4()
    with postgres.connect(database_url, autocommit=True) as conn:
        keys.create(conn, project_id=project, role="viewer")  # its project exists from here
        databases.insert(
            conn,
            database_id=database_id,
            project_id=project,
            name=name,
            engine="postgres",
            desired=DESIRED,
        )
        conn.execute(
            "UPDATE databases SET conditions = %s, observed_spec = %s WHERE id = %s",
            (Jsonb(CONDITIONS), Jsonb({"replicas": 2, "version": "16.4"}), database_id),
        )
        if state:
            databases.set_state(conn, database_id, state)
    return str(database_id)


def first_and_cached(server: Server, path: str, **params: str) -> tuple[httpx.Response, ...]:
    """The same request by a fresh key (thread path), then again (loop path)."""
    with server.fresh_client() as client:
        before = server.loop_reads()
        first = client.get(path, params=params)
        assert server.loop_reads() == before, "a key's first request must authenticate first"
        cached = client.get(path, params=params)
        assert server.loop_reads() == before + 1, "a cached key's read must run on the loop"
    return first, cached


def assert_same(first: httpx.Response, cached: httpx.Response) -> None:
    assert cached.status_code == first.status_code
    assert cached.content == first.content
    assert cached.headers.get("content-type") == first.headers.get("content-type")
    assert cached.headers.get("etag") == first.headers.get("etag")


def test_a_cached_key_gets_one_database_on_the_loop_byte_for_byte_as_the_thread_path(
    server: Server,
) -> None:
    database_id = insert(server.database_url, "orders")
    first, cached = first_and_cached(server, f"/v1/databases/{database_id}")
    assert first.status_code == 200, first.text
    assert first.json()["status"]["conditions"] == CONDITIONS
    assert first.headers["etag"]
    assert_same(first, cached)


def test_a_cached_key_lists_pages_on_the_loop_byte_for_byte_as_the_thread_path(
    server: Server,
) -> None:
    names = ["a-one", "a-two", "a-three"]
    for name in names:
        insert(server.database_url, name)
    insert(server.database_url, "gone", state="deleted")
    insert(server.database_url, "theirs", project="beta")
    first, cached = first_and_cached(server, "/v1/databases", limit="2")
    assert_same(first, cached)
    page = first.json()
    assert [item["name"] for item in page["items"]] == names[:2]
    cursor = page["next_cursor"]
    assert cursor
    first, cached = first_and_cached(server, "/v1/databases", limit="2", cursor=cursor)
    assert_same(first, cached)
    assert [item["name"] for item in first.json()["items"]] == names[2:]
    first, cached = first_and_cached(server, "/v1/databases", state="deleted")
    assert_same(first, cached)
    assert [item["name"] for item in first.json()["items"]] == ["gone"]


def test_a_cached_key_gets_404_on_the_loop_for_deleted_missing_and_foreign_databases(
    server: Server,
) -> None:
    deleted = insert(server.database_url, "gone", state="deleted")
    foreign = insert(server.database_url, "theirs", project="beta")
    for database_id in (deleted, foreign, str(uuid.uuid4())):
        first, cached = first_and_cached(server, f"/v1/databases/{database_id}")
        assert first.status_code == 404, first.text
        assert_same(first, cached)


def test_a_list_item_is_the_get_of_its_database_on_the_loop(server: Server) -> None:
    database_id = insert(server.database_url, "orders")
    with server.fresh_client() as client:
        client.get("/v1/databases")  # caches the key
        before = server.loop_reads()
        item = client.get("/v1/databases").json()["items"][0]
        one = client.get(f"/v1/databases/{database_id}").json()
        assert server.loop_reads() == before + 2
    # GET of one database adds its restorable window (null: not archived); else the same
    assert item == {k: v for k, v in one.items() if k != "restorable_window"}
    assert one["restorable_window"] is None
