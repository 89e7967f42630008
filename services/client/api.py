"""The REST API seen from the client: JSON in, JSON out, every refusal an `ApiProblem`.

One `httpx.Client` per command (keep-alive across the polls of `--wait`). Databases are
named by name or id wherever one is meant: `database()` resolves a name through the list's
`?name=` filter.
"""

from __future__ import annotations

import ssl
import sys
import types
import uuid
from collections.abc import Iterator, Mapping
from typing import Any


def _skip_httpx_command_line() -> None:
    """Keep `import httpx` from loading httpx's own `httpx` command (`httpx._main`).

    httpx's package imports its command-line tool whenever click, rich and pygments are
    installed (they are: our CLI uses click and rich), and that tool imports rich's console,
    progress and syntax modules and pygments' lexers: about a third of `import httpx`, paid
    by every `dbaas db list` even with `-o json` (bench/README.md has the figures). An empty
    module in its place is what httpx itself falls back to without those libraries; nothing
    of the HTTP client uses it. A no-op when httpx is already imported (a test process).
    """
    if "httpx" not in sys.modules:
        placeholder = types.ModuleType("httpx._main")
        placeholder.main = _no_httpx_command  # type: ignore[attr-defined]
        sys.modules.setdefault("httpx._main", placeholder)


def _no_httpx_command() -> None:
    raise SystemExit("httpx's command line is not loaded by the dbaas client")


_skip_httpx_command_line()

import httpx  # noqa: E402

from services.client.config import ClientConfig  # noqa: E402

JSONObject = dict[str, Any]
PROBLEM_BASE = "https://dbaas.dev/problems/"
PAGE_SIZE = 100


class ClientFailure(Exception):
    """Something the user must be told in one line (and the command exits non-zero)."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]


class ApiProblem(ClientFailure):
    """A problem+json answer (or any non-2xx) of the API."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(self.lines()[0])

    @property
    def slug(self) -> str:
        kind = str(self.problem.get("type") or "")
        return kind.removeprefix(PROBLEM_BASE) or "error"

    def lines(self) -> list[str]:
        problem = self.problem
        detail = problem.get("detail") or problem.get("title") or "the API refused the request"
        first = f"{detail} ({self.status} {self.slug})"
        lines = [first]
        for error in problem.get("errors") or ():
            if isinstance(error, Mapping):
                field = error.get("field") or "(body)"
                lines.append(f"  {field}: {error.get('message', '')}")
        return lines


class Unreachable(ClientFailure):
    pass


class Api:
    def __init__(self, config: ClientConfig, *, timeout: float = 30.0) -> None:
        headers = {"Accept": "application/json", "User-Agent": "dbaas-cli"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.config = config
        self.last_etag: str | None = None
        """The ETag of the last successful answer (a read-modify-write sends it as If-Match)."""
        self._http = httpx.Client(
            base_url=config.url, headers=headers, timeout=timeout, verify=_tls_context(config.url)
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_missing: bool = False,
    ) -> JSONObject | None:
        """The answer's JSON object; None for a 404 when `allow_missing`."""
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot reach the API at {self.config.url}: {exc} "
                "(is it running? set DBAAS_URL or run `dbaas login`)"
            ) from exc
        if response.status_code == 404 and allow_missing:
            return None
        if response.is_error:
            raise self._problem(response)
        self.last_etag = response.headers.get("ETag")
        body: JSONObject = response.json() if response.content else {}
        return body

    def _problem(self, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip().splitlines()[:1]
            body = {"detail": text[0] if text else response.reason_phrase}
        if response.status_code == 401 and self.config.key_source != "--api-key":
            where = self.config.key_source
            hint = "no key found" if where == "nowhere" else f"the key from {where}"
            body["detail"] = (
                f"{body.get('detail') or 'unauthorized'}; {hint} "
                "(set DBAAS_API_KEY or run `dbaas login`)"
            )
        return ApiProblem(response.status_code, body)

    def get(self, path: str, **params: str | int) -> JSONObject:
        body = self.request("GET", path, params=params or None)
        assert body is not None
        return body

    def send(self, method: str, path: str, body: Any = None) -> JSONObject:
        answer = self.request(method, path, json=body)
        assert answer is not None
        return answer

    def pages(self, path: str, **params: str | int) -> Iterator[JSONObject]:
        """Every item of a paginated list, following `next_cursor`."""
        query: dict[str, str | int] = {"limit": PAGE_SIZE, **params}
        while True:
            page = self.get(path, **query)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    def database(self, name_or_id: str, *, full: bool = False) -> JSONObject:
        """One live database by id or by name. `full`: as its own GET shows it (a list item
        leaves out what costs another query, such as the restorable window)."""
        if _is_uuid(name_or_id):
            return self.get(f"/v1/databases/{name_or_id}")
        found = self.get("/v1/databases", name=name_or_id, limit=1)["items"]
        if not found:
            raise ClientFailure(f"no database named {name_or_id!r} in this project")
        database: JSONObject = found[0]
        return self.get(f"/v1/databases/{database['id']}") if full else database

    def database_or_none(self, database_id: str) -> JSONObject | None:
        return self.request("GET", f"/v1/databases/{database_id}", allow_missing=True)


def _tls_context(url: str) -> ssl.SSLContext | bool:
    """httpx's default (certifi's CA bundle) for an https:// API; for http:// a context that
    trusts nothing. httpx builds the TLS context when the client is created, and loading the
    CA bundle costs ~35 ms of CPU, a tenth of `dbaas db list`, for an API that never speaks
    TLS (the requests are paths under the base URL). Verification stays on: were a TLS
    connection ever made with it, it would fail rather than trust anyone."""
    if url.startswith("https://"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
