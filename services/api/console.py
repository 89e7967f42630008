"""The web console at /ui/: static files of a small browser app that calls the REST API.

Why here: the console is served by the API process itself, so it reaches the API at the
same origin with nothing loaded from outside the pod. The app (console_assets/, package
data) is plain HTML, CSS and JavaScript modules; it keeps the API key in the browser's
sessionStorage and sends it as a Bearer key, like any client. This module only serves
those files: it must never read a key, a cookie or a database. Every answer carries a
Content-Security-Policy that allows only the console's own origin.
"""

from __future__ import annotations

import functools
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.api import problems

ASSETS_PACKAGE = "services.api"
ASSETS_FOLDER = "console_assets"
INDEX = "index.html"
SLASHED_PATHS = frozenset({"/ui/"})
"""Paths the API must not strip of their trailing slash (see `slashes`): the console's
files are named relatively to /ui/, so the page must be loaded from there."""
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load: an upgraded pod must never run yesterday's app.
    "Cache-Control": "no-cache",
}


@functools.cache
def assets() -> dict[str, bytes]:
    """Every file of the app by name, read once; nothing outside this table is served."""
    folder = resources.files(ASSETS_PACKAGE) / ASSETS_FOLDER
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and _suffix(entry.name) in MEDIA_TYPES
    }


def _suffix(name: str) -> str:
    return name[name.rfind(".") :] if "." in name else ""


def _asset_response(name: str) -> Response:
    body = assets().get(name)
    if body is None:
        raise problems.not_found(f"the console has no file {name!r}")
    return Response(body, media_type=MEDIA_TYPES[_suffix(name)], headers=HEADERS)


async def root(request: Request) -> Response:
    """/ui: to /ui/, relatively, so the console works under any path prefix."""
    return RedirectResponse("ui/", status_code=308, headers=HEADERS)


async def index(request: Request) -> Response:
    return _asset_response(INDEX)


async def asset(request: Request) -> Response:
    return _asset_response(request.path_params["name"])


def routes() -> list[Route]:
    """The console's routes; not part of the REST API (openapi.py documents that)."""
    return [
        Route("/ui", root, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Route("/ui/{name}", asset, methods=["GET"]),
    ]
