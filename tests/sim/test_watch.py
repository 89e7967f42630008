"""Watch through `kubernetes.watch.Watch`: replay, timeouts, bookmarks, drops and 410 Gone."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.fixtures_sim import SimCluster, SimServer, admin_call, start_server, stop_server
from tests.sim.kube import DB_GROUP, DB_VERSION, NS, Kube, postgres


def _secret(name: str, labels: dict[str, str] | None = None) -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels=labels))


def _take(
    stream: Generator[dict[str, Any], None, None], count: int, *, close: bool = True
) -> list[tuple[str, str]]:
    """The next `count` events as (type, name); closes the stream (and its connection)."""
    events = []
    for event in stream:
        events.append((event["type"], event["raw_object"]["metadata"]["name"]))
        if len(events) == count:
            break
    if close:
        stream.close()
    return events


def _until(
    watcher: watch.Watch, stream: Generator[dict[str, Any], None, None], sentinel: str
) -> list[dict[str, Any]]:
    """Events up to (not including) the first one about `sentinel`; then stop listwatch.

    The sentinel is written last, so everything before it in the stream is all the watch
    had to say about the earlier writes.
    """
    events = []
    for event in stream:
        if event["raw_object"]["metadata"]["name"] == sentinel:
            watcher.stop()
            stream.close()
            return events
        events.append(event)
    raise AssertionError("the stream ended before the sentinel")


def test_a_watch_from_a_list_version_replays_added_modified_deleted(kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    kube.core.patch_namespaced_secret("a", NS, {"metadata": {"labels": {"x": "1"}}})
    kube.core.delete_namespaced_secret("a", NS)
    kube.core.create_namespaced_secret(NS, _secret("zz-sentinel"))
    watcher = watch.Watch()
    events = _until(
        watcher,
        watcher.stream(kube.core.list_namespaced_secret, NS, resource_version=start),
        "zz-sentinel",
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_a_watch_without_version_starts_with_the_current_objects(kube: Kube) -> None:
    kube.core.create_namespaced_secret(NS, _secret("a"))
    kube.core.create_namespaced_secret(NS, _secret("b"))
    kube.core.create_namespaced_secret(NS, _secret("zz-sentinel"))
    watcher = watch.Watch()
    events = _until(watcher, watcher.stream(kube.core.list_namespaced_secret, NS), "zz-sentinel")
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_timeout_seconds_ends_the_stream_with_a_bookmark_when_allowed(kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            kube.core.list_namespaced_secret,
            NS,
            resource_version=start,
            timeout_seconds=1,
            allow_watch_bookmarks=True,
        )
    )
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    added_rv = int(events[0]["object"].metadata.resource_version)
    assert int(events[1]["raw_object"]["metadata"]["resourceVersion"]) >= added_rv


def test_a_watch_on_custom_objects_sees_the_operator_at_work(kube: Kube) -> None:
    start = kube.custom.list_namespaced_custom_object(DB_GROUP, DB_VERSION, NS, "postgreses")[
        "metadata"
    ]["resourceVersion"]
    kube.create_db(postgres("orders"))
    phases = []
    stream = watch.Watch().stream(
        kube.custom.list_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        resource_version=start,
        timeout_seconds=5,
    )
    for event in stream:
        phases.append((event["type"], (event["object"].get("status") or {}).get("phase")))
        if phases[-1][1] == "Ready":
            break
    stream.close()
    assert phases[0] == ("ADDED", None)
    assert ("MODIFIED", "Provisioning") in phases
    assert phases[-1] == ("MODIFIED", "Ready")


def test_a_label_selector_watch_sees_objects_leave_and_enter_the_selection(kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a", {"app": "pg"}))
    kube.core.patch_namespaced_secret("a", NS, {"metadata": {"labels": {"app": "my"}}})
    kube.core.patch_namespaced_secret("a", NS, {"metadata": {"labels": {"app": "pg"}}})
    kube.core.create_namespaced_secret(NS, _secret("b", {"app": "my"}))
    kube.core.create_namespaced_secret(NS, _secret("zz-sentinel", {"app": "pg"}))
    watcher = watch.Watch()
    events = _until(
        watcher,
        watcher.stream(
            kube.core.list_namespaced_secret,
            NS,
            resource_version=start,
            label_selector="app=pg",
        ),
        "zz-sentinel",
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
        ("ADDED", "a"),
    ]


def test_a_forced_compaction_makes_an_old_version_410_gone(sim: SimCluster, kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    sim.compact()
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                kube.core.list_namespaced_secret, NS, resource_version=start, timeout_seconds=1
            )
        )
    assert caught.value.status == 410
    assert "Expired" in str(caught.value.reason)


def test_an_open_watch_gets_410_on_compaction_and_the_client_gives_up_after_one_retry(
    sim: SimCluster, kube: Kube
) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    stream = watch.Watch().stream(kube.core.list_namespaced_secret, NS, resource_version=start)
    assert _take(stream, 1, close=False) == [("ADDED", "a")]
    assert sim.compact()["watches_dropped"] == 1
    with pytest.raises(ApiException) as caught:
        next(stream)
    assert caught.value.status == 410
    stream.close()


def test_a_dropped_watch_resumes_from_its_last_version_without_losing_events(
    sim: SimCluster, kube: Kube
) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    watcher = watch.Watch()
    stream = watcher.stream(kube.core.list_namespaced_secret, NS, resource_version=start)
    assert _take(stream, 1, close=False) == [("ADDED", "a")]
    assert sim.drop_watches() == 1
    kube.core.create_namespaced_secret(NS, _secret("b"))
    assert _take(stream, 1) == [("ADDED", "b")]
    assert sim.requests("watch", "secrets") == 2


def test_a_watch_on_one_name_sees_only_that_object(kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    kube.core.create_namespaced_secret(NS, _secret("b"))
    kube.core.patch_namespaced_secret("a", NS, {"metadata": {"labels": {"x": "1"}}})
    kube.core.patch_namespaced_secret("b", NS, {"metadata": {"labels": {"x": "1"}}})
    watcher = watch.Watch()
    events = _take(
        watcher.stream(
            kube.core.list_namespaced_secret,
            NS,
            resource_version=start,
            field_selector="metadata.name=b",
        ),
        2,
    )
    assert events == [("ADDED", "b"), ("MODIFIED", "b")]


def test_a_watch_across_namespaces_and_kinds_is_filtered(kube: Kube) -> None:
    kube.namespace("other")
    start = kube.core.list_secret_for_all_namespaces().metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    kube.core.create_namespaced_secret("other", _secret("b"))
    kube.coordination.create_namespaced_lease(
        NS, client.V1Lease(metadata=client.V1ObjectMeta(name="lease"))
    )
    kube.core.create_namespaced_secret("other", _secret("zz-sentinel"))
    watcher = watch.Watch()
    everywhere = _until(
        watcher,
        watcher.stream(kube.core.list_secret_for_all_namespaces, resource_version=start),
        "zz-sentinel",
    )
    assert [e["object"].metadata.name for e in everywhere] == ["a", "b"]
    watcher = watch.Watch()
    other_only = _take(
        watcher.stream(kube.core.list_namespaced_secret, "other", resource_version=start), 1
    )
    assert other_only == [("ADDED", "b")]


@pytest.fixture(scope="module")
def short_history(tmp_path_factory: pytest.TempPathFactory, crd_cache: Path) -> Iterator[SimServer]:
    """A second simulator whose history window is only 5 events."""
    cache = crd_cache
    server = start_server(tmp_path_factory.mktemp("short"), cache, "--history", "5")
    try:
        yield server
    finally:
        stop_server(server)


def test_a_version_that_left_the_history_window_is_410_gone(short_history: SimServer) -> None:
    sim = SimCluster(short_history)
    try:
        admin_call(sim.url, "POST", "/sim/reset")
        core = client.CoreV1Api(sim.api_client())
        start = core.list_namespaced_secret("default").metadata.resource_version
        for index in range(3):
            core.create_namespaced_secret("default", _secret(f"s{index}"))
        watcher = watch.Watch()
        recent = _take(
            watcher.stream(core.list_namespaced_secret, "default", resource_version=start), 3
        )
        assert recent == [("ADDED", "s0"), ("ADDED", "s1"), ("ADDED", "s2")]
        for index in range(3, 10):
            core.create_namespaced_secret("default", _secret(f"s{index}"))
        with pytest.raises(ApiException) as caught:
            list(
                watch.Watch().stream(
                    core.list_namespaced_secret,
                    "default",
                    resource_version=start,
                    timeout_seconds=1,
                )
            )
        assert caught.value.status == 410
    finally:
        sim.close()


def test_the_legacy_watch_path_streams_newline_delimited_events(kube: Kube) -> None:
    start = kube.core.list_namespaced_secret(NS).metadata.resource_version
    kube.core.create_namespaced_secret(NS, _secret("a"))
    url = (
        f"{kube.sim.url}/api/v1/watch/namespaces/{NS}/secrets"
        f"?resourceVersion={start}&timeoutSeconds=1"
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "a")]
    assert lines[0]["object"]["kind"] == "Secret"
