"""The Kubernetes client: the only module that imports `kubernetes`.

Wraps the official client for the calls dbaas makes (custom objects, namespaces, secrets,
catalog reads, lists and watches) and turns its exceptions into `KubeError`, which says
whether a retry can help. Never retries by itself: callers own their retry policy.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import orjson
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from services.domain.resources import Resource

TRANSIENT_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})


class KubeError(Exception):
    """A failed Kubernetes call, with the server's Status when there was one."""

    def __init__(self, status: int, reason: str, message: str, causes: list[dict[str, Any]]):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUSES

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def gone(self) -> bool:
        return self.status == 410


def _error(exc: Exception) -> KubeError:
    """The KubeError for a failed call: a Status answer, or status 0 for a transport failure."""
    if isinstance(exc, TransportError):
        # connection refused, reset or timed out: urllib3 gave up, nobody answered
        return KubeError(0, "ConnectionError", f"{type(exc).__name__}: {exc}", [])
    assert isinstance(exc, ApiException)
    status = int(exc.status or 0)
    reason, message = str(exc.reason or ""), str(exc.reason or "")
    causes: list[dict[str, Any]] = []
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = body.get("reason") or reason
        message = body.get("message") or message
        causes = (body.get("details") or {}).get("causes") or []
    return KubeError(status, reason, message, causes)


def load_api_client(kubeconfig: str | None) -> client.ApiClient:
    """From a kubeconfig file when given, else the in-cluster service account."""
    if kubeconfig:
        api_client: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)
    else:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        api_client = client.ApiClient(configuration)
    _pin_proxy(api_client.configuration)
    return api_client


def _pin_proxy(configuration: client.Configuration) -> None:
    """Keep the proxy the environment gave at load time instead of reading it again per call.

    A kubeconfig with a token installs a hook that copies the loaded settings back into the
    configuration before every request (to refresh an expiring token); setting `host` then
    reads the proxy from the environment again, iterating all of `os.environ` (the largest
    single CPU cost of an OpsRequest create; bench/README.md). The environment does
    not change while a process runs, so the proxy it named at load time is kept; an explicit
    proxy (a kubeconfig's `proxy-url`) was pinned already, and the token refresh still runs.
    """
    configuration.proxy = configuration.proxy


_requests: collections.Counter[tuple[str, str]] = collections.Counter()
_requests_lock = threading.Lock()


def request_counts() -> dict[str, float]:
    """Kubernetes requests this process made, by "<verb> <code>" (code "error" when no
    answer came): what its heartbeat reports as dbaas_kube_requests_total."""
    with _requests_lock:
        return {f"{verb} {code}": float(n) for (verb, code), n in _requests.items()}


def verb_of(method: str, url: str) -> str:
    """The Kubernetes verb of a request: the method, and for GET and DELETE whether the path
    names one object or a collection (a named path has a name after the plural)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]  # /api/v1/...
    elif segments[:1] == ["apis"]:
        rest = segments[3:]  # /apis/<group>/<version>/...
    else:
        return method.lower()
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]  # namespaced: /namespaces/<ns>/<plural>[/<name>]
    collection = len(rest) <= 1
    method = method.upper()
    if method == "GET":
        if collection:
            return "watch" if "watch=true" in parts.query.lower() else "list"
        return "get"
    if method == "DELETE":
        return "deletecollection" if collection else "delete"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class _CountingRESTClient:
    """The client's REST layer, counting each request by verb and answer code."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        verb = verb_of(method, url)
        try:
            reply = self._inner.request(method, url, *args, **kwargs)
        except ApiException as exc:
            _count(verb, str(exc.status or "error"))
            raise
        except Exception:
            _count(verb, "error")
            raise
        _count(verb, str(reply.status))
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _count(verb: str, code: str) -> None:
    with _requests_lock:
        _requests[verb, code] += 1


class KubeClient:
    """The calls dbaas makes, over one ApiClient (thread-safe for concurrent requests)."""

    def __init__(self, api_client: client.ApiClient, *, request_timeout: float = 10.0):
        if not isinstance(api_client.rest_client, _CountingRESTClient):
            api_client.rest_client = _CountingRESTClient(api_client.rest_client)  # type: ignore[assignment]
        self.api_client = api_client
        # Typed as Any: the generated client's annotations say `object` for custom objects.
        self.custom: Any = client.CustomObjectsApi(api_client)
        self._core: Any = None
        self.timeout = request_timeout

    @property
    def core(self) -> Any:
        """CoreV1Api, built on first use: importing it costs ~0.4 s and most processes
        only ever touch custom objects."""
        if self._core is None:
            self._core = client.CoreV1Api(self.api_client)
        return self._core

    def close(self) -> None:
        self.api_client.close()

    def ensure_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self.core.create_namespace(body, _request_timeout=self.timeout)
        except (ApiException, TransportError) as exc:
            error = _error(exc)
            if not error.already_exists:
                raise error from exc

    def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> None:
        """Create the object. The created object is not returned: nobody reads it, and
        deserializing the reply cost as much CPU as sending the request; its body is read
        (so the connection goes back to the pool) but not parsed. Errors are parsed as
        ever (the reply of a failed call is a Status).

        The worker's hot path (one per operation), so it goes straight to the official
        client's REST layer (its urllib3 pool, TLS settings and authentication, token
        refresh included) with the request the generated `create_namespaced_custom_object`
        builds, without that method's per-call pydantic argument validation and recursive
        body sanitizing (the body is plain JSON data already): ~30 % of the call's CPU."""
        # The core group ("": Secrets) lives under /api, every other group under /apis.
        group = f"/apis/{quote(resource.group, safe='')}" if resource.group else "/api"
        path = "/".join(
            (
                f"{group}/{quote(resource.version, safe='')}",
                f"namespaces/{quote(namespace, safe='')}/{quote(resource.plural, safe='')}",
            )
        )
        self._send("POST", path, body)

    def _send(self, method: str, path: str, body: dict[str, Any]) -> None:
        """`method` on `path` with a JSON body; raises KubeError unless the answer is 2xx. The
        answer's body is read (releasing the connection) and parsed only when it is an error."""
        api_client = self.api_client
        headers = {
            **api_client.default_headers,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        if api_client.cookie:
            headers["Cookie"] = api_client.cookie
        try:
            api_client.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
            reply = api_client.rest_client.request(
                method,
                api_client.configuration.host + path,
                headers=headers,
                body=body,
                _request_timeout=self.timeout,
            )
            reply.read()
            if not 200 <= reply.status <= 299:
                raise ApiException.from_response(http_resp=reply, body=None, data=None)
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc

    def _receive(self, path: str) -> dict[str, Any]:
        """GET `path` and its JSON answer; raises KubeError unless the answer is 2xx."""
        api_client = self.api_client
        headers = {**api_client.default_headers, "Accept": "application/json"}
        if api_client.cookie:
            headers["Cookie"] = api_client.cookie
        try:
            api_client.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
            reply = api_client.rest_client.request(
                "GET",
                api_client.configuration.host + path,
                headers=headers,
                _request_timeout=self.timeout,
            )
            data = reply.read()
            if not 200 <= reply.status <= 299:
                raise ApiException.from_response(http_resp=reply, body=None, data=None)
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc
        try:
            page: dict[str, Any] = orjson.loads(data)
        except orjson.JSONDecodeError:  # what orjson refuses (an integer past 64 bits)
            page = json.loads(data)
        return page

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                name,
                _request_timeout=self.timeout,
            )
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc
        return found

    def merge_patch(
        self, resource: Resource, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                name,
                patch,
                _request_timeout=self.timeout,
            )
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc
        return patched

    def delete(self, resource: Resource, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                name,
                _request_timeout=self.timeout,
            )
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc

    def list_page(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        limit: int = 500,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list; `metadata.continue` holds the next token.

        The reconcilers' bulk read (status-sync lists every Snapshot: 300,000 at 10,000
        databases with backups), so, as `create`, it goes straight to the REST layer with
        the request the generated list method builds, and decodes the page with orjson: the
        generated method's stdlib decoding was most of a lister's time (bench/README.md)."""
        group = f"/apis/{quote(resource.group, safe='')}" if resource.group else "/api"
        scope = ""
        if namespace is not None and resource.namespaced:
            scope = f"namespaces/{quote(namespace, safe='')}/"
        path = (
            f"{group}/{quote(resource.version, safe='')}/{scope}{quote(resource.plural, safe='')}"
        )
        query: dict[str, str] = {"labelSelector": label_selector, "limit": str(limit)}
        if continue_token:
            query["continue"] = continue_token
        return self._receive(f"{path}?{urlencode(query)}")

    def list_all(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object across pages, and the resourceVersion of the first page."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        resource_version = ""
        while True:
            page = self.list_page(
                resource, namespace=namespace, label_selector=label_selector, continue_token=token
            )
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            resource_version = resource_version or str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            if not token:
                return items, resource_version

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        label_selector: str = "",
        timeout_seconds: int = 60,
    ) -> Iterator[dict[str, Any]]:
        """Events `{type, object}` from a resourceVersion; raises KubeError(410) when too old."""
        watcher = watch.Watch()
        try:
            yield from watcher.stream(
                self.custom.list_cluster_custom_object,
                resource.group,
                resource.version,
                resource.plural,
                label_selector=label_selector,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                _request_timeout=timeout_seconds + 5,
            )
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc
        finally:
            watcher.stop()

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, base64-decoded; never logged by callers."""
        import base64

        try:
            secret = self.core.read_namespaced_secret(
                name, namespace, _request_timeout=self.timeout
            )
        except (ApiException, TransportError) as exc:
            raise _error(exc) from exc
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
