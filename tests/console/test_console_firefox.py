"""The console's main flow in Firefox as well: Debian's firefox-esr, driven over WebDriver
BiDi by puppeteer-core (tests/console/firefox; `npm ci` there, no browser download), against
the same control plane as the Chromium tests.

Skipped, saying why, when firefox, node or the script's node_modules is missing;
`.ci/browser-setup` installs all three, so CI always runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.conftest import screenshot_dir
from tests.e2e.control_plane import Plane, control_plane
from tests.fixtures_sim import SimCluster

SCRIPT_DIR = Path(__file__).with_name("firefox")
STEPS = [
    "ok: signed in as project acme · admin",
    "ok: refused with the API's message: ",
    "ok: created and ready",
    "ok: scaled to 3, the timeline says succeeded",
    "ok: credentials revealed",
    "ok: deleted",
    "ok: a viewer sees no controls",
    "ok: no page errors (firefox/",
]


def firefox_binary() -> str | None:
    named = os.environ.get("DBAAS_FIREFOX")
    return named or shutil.which("firefox-esr") or shutil.which("firefox")


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path) as running:
        yield running


@pytest.fixture
def browser_tools() -> tuple[str, str]:
    """Firefox and node, or a skip that says which is missing: asked for before `plane`, so
    a skipped test never starts (and at once stops) a control plane."""
    firefox, node = firefox_binary(), shutil.which("node")
    if firefox is None or node is None:
        pytest.skip("no firefox or no node (.ci/browser-setup installs both)")
    if not (SCRIPT_DIR / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip("puppeteer-core is not installed: npm ci --prefix tests/console/firefox")
    return firefox, node


@pytest.mark.timeout(600)
def test_the_main_flow_works_in_firefox(browser_tools: tuple[str, str], plane: Plane) -> None:
    firefox, node = browser_tools
    plane.create("ledger", replicas=1)  # for the viewer to look at
    with plane.client() as client:
        refused = client.post(
            "/v1/databases", json={"name": "Bad Name", "engine": "postgres", "version": "16.13"}
        ).json()
    (name_error,) = [e["message"] for e in refused["errors"] if e["field"] == "name"]
    env = os.environ | {
        "CONSOLE_URL": plane.api.url,
        "ADMIN_KEY": plane.key,
        "VIEWER_KEY": plane.api.key(role="viewer", project="acme"),
        "FIREFOX": firefox,
        "SCREENSHOTS": str(screenshot_dir()),
    }
    run = subprocess.run(
        [node, str(SCRIPT_DIR / "console_flow.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(STEPS), run.stdout
    for line, expected in zip(lines, STEPS, strict=True):
        assert line.startswith(expected), (line, expected)
    assert lines[1] == f"ok: refused with the API's message: {name_error}"
