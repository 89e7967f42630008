"""How the API serves the console: /ui/ and its files, with a Content-Security-Policy that
allows only the console's own origin, nothing loaded from elsewhere, and every file shipped
as package data (so the wheel, and the image built from it, carry the console)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from services.api import console
from tests.api_harness import (
    LiveApi,
)

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "services" / "api" / "console_assets"
EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


def test_ui_redirects_relatively_to_the_console(offline_api: LiveApi) -> None:
    with offline_api.client() as client:
        response = client.get("/ui")
    assert response.status_code == 308
    assert response.headers["location"] == "ui/"
    assert response.headers["content-security-policy"] == EXPECTED_CSP


def test_the_console_and_each_of_its_files_carry_the_policy(offline_api: LiveApi) -> None:
    names = sorted(path.name for path in ASSETS.iterdir())
    assert {"index.html", "app.js", "api.js", "console.css"} <= set(names)
    with offline_api.client() as client:
        index = client.get("/ui/")
        files = {name: client.get(f"/ui/{name}") for name in names}
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.text == (ASSETS / "index.html").read_text()
    for name, response in [("/ui/", index), *files.items()]:
        assert response.status_code == 200, name
        assert response.headers["content-security-policy"] == EXPECTED_CSP, name
        assert response.headers["x-content-type-options"] == "nosniff", name
    assert files["app.js"].headers["content-type"] == "text/javascript; charset=utf-8"
    assert files["console.css"].headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path", ["/ui/nope.js", "/ui/..%2fapp.py", "/ui/%2e%2e/console.py", "/ui/console.py"]
)
def test_nothing_but_the_consoles_files_is_served(offline_api: LiveApi, path: str) -> None:
    with offline_api.client() as client:
        response = client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_no_file_of_the_console_loads_anything_from_another_origin() -> None:
    absolute = re.compile(r"""(?:src|href|from|import|url)\s*[=(]?\s*["']?(?:[a-z]+:)?//""")
    for path in ASSETS.iterdir():
        text = path.read_text()
        assert not absolute.search(text), path.name
        assert ".innerHTML" not in text, path.name  # API text is set as text, never parsed
        assert " style=" not in text, path.name  # the policy refuses inline styles


def test_every_file_of_the_console_is_package_data_of_the_wheel() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["services.api"]
    for path in ASSETS.iterdir():
        relative = path.relative_to(ASSETS.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
        assert path.suffix in console.MEDIA_TYPES, path.name  # and served with its type
    # The image builds its wheel from the whole services/ tree.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY services ./services" in dockerfile
    assert "!services/" in (REPO / ".dockerignore").read_text()
