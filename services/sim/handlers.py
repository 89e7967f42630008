"""The Kubernetes REST endpoints: HTTP in, cluster verbs, Kubernetes JSON out.

Counts every request (verb + resource), applies the switchable faults (latency, injected
errors) before touching the cluster, and answers errors as `Status` bodies. Lists splice
the stored JSON of each object; watches stream newline-delimited events. This module holds
no state of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.sim import (
    applying,
    discovery,
    errors,
    patching,
    protobuf,
    routing,
    store,
    tables,
    watching,
)
from services.sim.resources import ResourceType

if TYPE_CHECKING:
    from services.sim.simulator import Simulator

log = logging.getLogger(__name__)

JSON = "application/json"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
"""The annotation on the BOOKMARK that ends a watch list's initial events."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else store.encode(body)
    return Response(content, status_code=status, media_type=JSON, headers=headers)


def error_response(error: errors.ApiError) -> Response:
    return json_response(error.status(), error.code, error.headers)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _int(params: Any, name: str) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return 0
    try:
        return int(raw)
    except ValueError as exc:
        raise errors.bad_request(f"invalid {name}: {raw!r}") from exc


def _strict(request: Request) -> bool:
    """`fieldValidation=Strict` (kubectl's default): unknown fields are an error, not pruned."""
    return request.query_params.get("fieldValidation") == "Strict"


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method != "PATCH" and media == protobuf.MEDIA_TYPE:
        try:
            return protobuf.decode(raw)  # kubectl's typed writes of core kinds
        except protobuf.Undecodable as exc:
            log.info("sim: protobuf body refused: %s", exc)
            raise errors.unsupported_media_type(media, [JSON]) from exc
    if request.method != "PATCH" and media and not media.endswith("json"):
        # CBOR and other kinds' protobuf are not spoken here; 415 is how a server says so.
        raise errors.unsupported_media_type(media, [JSON])
    try:
        return store.decode(raw)
    except ValueError as exc:
        if media == patching.APPLY:  # server-side apply may send YAML
            return _yaml(raw)
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from exc


def _yaml(raw: bytes) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the request body is not valid YAML: {exc}") from exc


def _watch_list(params: Any, *, allow_bookmarks: bool) -> bool:
    """True for a watch-list request (`sendInitialEvents=true`), refused as kube-apiserver
    refuses it without `resourceVersionMatch=NotOlderThan` and `allowWatchBookmarks=true`."""
    raw = params.get("sendInitialEvents")
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise errors.bad_request(f"invalid sendInitialEvents: {raw!r}")
    causes = []
    if params.get("resourceVersionMatch") != "NotOlderThan":
        message = (
            "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        )
        causes.append(_forbidden_cause("resourceVersionMatch", message))
    if raw == "true" and not allow_bookmarks:
        message = "Forbidden: sendInitialEvents requires allowWatchBookmarks=true"
        causes.append(_forbidden_cause("allowWatchBookmarks", message))
    if causes:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)
    return bool(raw == "true")


def _forbidden_cause(field: str, message: str) -> dict[str, str]:
    return {"reason": "FieldValueForbidden", "message": message, "field": field}


def _list_body(rt: ResourceType, entries: list[store.Entry], page_meta: dict[str, Any]) -> bytes:
    head = (
        b'{"kind":"'
        + rt.list_kind.encode()
        + b'","apiVersion":"'
        + rt.api_version.encode()
        + b'","metadata":'
        + store.encode(page_meta)
        + b',"items":['
    )
    return head + b",".join(entry.raw for entry in entries) + b"]}"


def _success(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    details = {"name": obj["metadata"]["name"], "kind": rt.plural, "uid": obj["metadata"]["uid"]}
    if rt.group:
        details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


class KubeApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def handle(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except errors.ApiError as error:
            return error_response(error)
        except Exception as exc:  # the real server answers 500 with a Status, so do we
            log.exception("sim: %s %s failed", request.method, request.url.path)
            return error_response(errors.internal(str(exc)))

    async def _dispatch(self, request: Request) -> Response:
        segments = [part for part in request.url.path.split("/") if part]
        table = self.sim.resources
        if segments[0] == "api":
            if len(segments) == 1:
                return json_response(discovery.api_versions(request.url.netloc))
            if segments[1] != "v1":
                raise routing.not_found()
            if len(segments) == 2:
                return json_response(discovery.resource_list(table, "", "v1"))
            group, version, rest = "", "v1", segments[2:]
        else:
            if len(segments) == 1:
                return json_response(discovery.group_list(table))
            if len(segments) == 2:
                document = discovery.group(table, segments[1])
                if document is None:
                    raise routing.not_found()
                return json_response(document)
            if len(segments) == 3:
                document = discovery.resource_list(table, segments[1], segments[2])
                if document is None:
                    raise routing.not_found()
                return json_response(document)
            group, version, rest = segments[1], segments[2], segments[3:]
        target = routing.parse(table, group, version, rest)
        verb = target.verb(request.method, watch=_flag(request.query_params.get("watch")))
        self.sim.stats.requests[(verb, target.resource_label)] += 1
        faults = self.sim.faults
        delay = faults.delay_for(verb)
        if delay and not faults.latency_after:
            await asyncio.sleep(delay)
        injected = faults.error_for(verb, target.resource_label)
        if injected is not None:
            self.sim.stats.injected[injected.code] += 1
            raise injected
        handler = getattr(self, f"_{verb}")
        response: Response = await handler(request, target)
        if delay and faults.latency_after:  # done; the client hears of it only now
            self.sim.stats.held_answers += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self.sim.stats.held_answers -= 1
        return response

    # -- verbs -----------------------------------------------------------------------------

    async def _get(self, request: Request, target: routing.Target) -> Response:
        assert target.name is not None
        entry = self.sim.cluster.get(target.rt, target.namespace, target.name)
        if tables.wants_table(request.headers.get("accept", "")):
            return json_response(
                tables.render(
                    target.rt,
                    [entry.obj],
                    now=self.sim.cluster.clock(),
                    resource_version=str(entry.rv),
                )
            )
        return json_response(entry.raw)

    async def _list(self, request: Request, target: routing.Target) -> Response:
        params = request.query_params
        page = self.sim.cluster.list(
            target.rt,
            target.namespace,
            label_selector=params.get("labelSelector"),
            field_selector=params.get("fieldSelector"),
            limit=_int(params, "limit"),
            continue_token=params.get("continue"),
        )
        if tables.wants_table(request.headers.get("accept", "")):
            return json_response(
                tables.render(
                    target.rt,
                    [entry.obj for entry in page.entries],
                    now=self.sim.cluster.clock(),
                    resource_version=str(page.resource_version),
                    continue_token=page.continue_token,
                )
            )
        meta: dict[str, Any] = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        return json_response(_list_body(target.rt, page.entries, meta))

    async def _watch(self, request: Request, target: routing.Target) -> Response:
        params = request.query_params
        sim = self.sim
        rt = target.rt
        predicate = sim.cluster.predicate(
            rt, params.get("labelSelector"), params.get("fieldSelector")
        )
        if target.name is not None:
            name = target.name
            by_name = sim.cluster.predicate(rt, None, f"metadata.name={name}")
            predicate = (
                by_name
                if predicate is None
                else (lambda obj, p=predicate, b=by_name: b(obj) and p(obj))
            )
        raw_rv = params.get("resourceVersion") or ""
        try:
            since = None if raw_rv in ("", "0") else int(raw_rv)
        except ValueError as exc:
            raise errors.bad_request(f"invalid resourceVersion: {raw_rv!r}") from exc
        timeout = float(_int(params, "timeoutSeconds") or sim.options.watch_timeout)
        namespace = target.namespace if rt.namespaced else None
        allow_bookmarks = _flag(params.get("allowWatchBookmarks"))
        watch_list = _watch_list(params, allow_bookmarks=allow_bookmarks)

        def bookmark(*, initial_events_end: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(sim.store.rv)}
            if initial_events_end:
                meta["annotations"] = {INITIAL_EVENTS_END: "true"}
            obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
            return b'{"type":"BOOKMARK","object":' + store.encode(obj) + b"}\n"

        watcher = sim.hub.open(
            rt.key,
            namespace=namespace,
            predicate=predicate,
            since=since,
            current=lambda: sim.cluster.iterate(rt, namespace, predicate),
            initial_events_end=(lambda: bookmark(initial_events_end=True)) if watch_list else None,
        )
        body = watching.stream(
            sim.hub,
            watcher,
            timeout=timeout,
            bookmark=bookmark if allow_bookmarks else None,
            bookmark_interval=sim.options.bookmark_interval,
        )
        if tables.wants_table(request.headers.get("accept", "")):
            body = self._as_tables(rt, body)
        return StreamingResponse(body, media_type=JSON)

    async def _as_tables(
        self, rt: ResourceType, body: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """A `kubectl get -w` watch: each event's object as a one-row Table, as the server's."""
        async for chunk in body:
            lines = []
            for line in chunk.splitlines():
                event = store.decode(line)
                obj = event.get("object") or {}
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    event["object"] = tables.render(
                        rt,
                        [obj],
                        now=self.sim.cluster.clock(),
                        resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
                    )
                lines.append(store.encode(event) + b"\n")
            yield b"".join(lines)

    async def _create(self, request: Request, target: routing.Target) -> Response:
        entry = self.sim.cluster.create(
            target.rt,
            target.namespace,
            await _body(request),
            strict=_strict(request),
            owned=True,
        )
        return json_response(entry.raw, 201)

    async def _update(self, request: Request, target: routing.Target) -> Response:
        assert target.name is not None
        entry = self.sim.cluster.replace(
            target.rt,
            target.namespace,
            target.name,
            await _body(request),
            subresource=target.subresource,
            strict=_strict(request),
        )
        return json_response(entry.raw)

    async def _patch(self, request: Request, target: routing.Target) -> Response:
        assert target.name is not None
        body = await _body(request)
        if body is None:
            raise errors.bad_request("the patch body is empty")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(patching.APPLY) and target.subresource is None:
            if request.query_params.get("fieldManager") in (None, ""):
                raise errors.bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager"
                )
            if not isinstance(body, dict):
                raise errors.bad_request("the applied configuration must be an object")
            existing = self.sim.store.get(target.rt.key, (target.namespace or "", target.name))
            applied = applying.apply(
                existing.copy() if existing is not None else None,
                body,
                manager=request.query_params["fieldManager"],
                force=request.query_params.get("force") == "true",
                api_version=target.rt.api_version,
            )
            if existing is None:
                entry = self.sim.cluster.create(
                    target.rt, target.namespace, applied, strict=_strict(request), owned=True
                )
                return json_response(entry.raw, 201)
            entry = self.sim.cluster.replace(
                target.rt, target.namespace, target.name, applied, strict=_strict(request)
            )
            return json_response(entry.raw)
        entry = self.sim.cluster.patch(
            target.rt,
            target.namespace,
            target.name,
            body,
            request.headers.get("content-type", ""),
            subresource=target.subresource,
            strict=_strict(request),
        )
        return json_response(entry.raw)

    async def _delete(self, request: Request, target: routing.Target) -> Response:
        assert target.name is not None
        options = await _body(request) or {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        policy = request.query_params.get("propagationPolicy")
        if policy:
            options["propagationPolicy"] = policy
        if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f"propagationPolicy {options['propagationPolicy']!r} is not supported"
            )
        entry, removed = self.sim.cluster.delete(
            target.rt, target.namespace, target.name, options=options
        )
        if removed and not target.rt.custom:
            return json_response(_success(target.rt, entry.obj))
        return json_response(entry.raw)

    async def _deletecollection(self, request: Request, target: routing.Target) -> Response:
        params = request.query_params
        cluster = self.sim.cluster
        predicate = cluster.predicate(
            target.rt, params.get("labelSelector"), params.get("fieldSelector")
        )
        removed = []
        for entry in list(cluster.iterate(target.rt, target.namespace, predicate)):
            meta = entry.obj["metadata"]
            latest, _ = cluster.delete(target.rt, meta.get("namespace"), meta["name"])
            removed.append(latest)
        meta_out = {"resourceVersion": str(self.sim.store.rv)}
        return json_response(_list_body(target.rt, removed, meta_out))
