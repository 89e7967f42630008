"""The client commands import nothing of the server: `dbaas db list` must start fast, and a
client machine need not be able to load the server's drivers."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER = ("kubernetes", "psycopg", "psycopg_pool", "rq", "redis", "starlette", "hypercorn",
          "prometheus_client", "jsonschema", "semver", "orjson", "supervisor")  # fmt: skip


def test_a_whole_client_command_loads_no_server_module() -> None:
    code = (
        "import json, sys\n"
        "from services import cli\n"
        "code = cli.main(['db', 'list', '--url', 'http://127.0.0.1:9', '--api-key', 'k'])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
        "ours = sorted(m for m in sys.modules if m.startswith('services.'))\n"
        "print(json.dumps({'code': code, 'top': loaded, 'ours': ours}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["code"] == 1  # the API is unreachable: reported, not raised
    assert "cannot reach the API" in done.stderr
    assert {"httpx", "click"} <= set(report["top"])  # the probe sees what was imported
    assert [m for m in SERVER if m in report["top"]] == []
    # Nothing is printed yet, so no terminal rendering: httpx's own command line (which
    # would import rich and pygments) is kept out (services/client/api.py).
    assert [m for m in ("rich", "pygments", "yaml") if m in report["top"]] == []
    # The entry point alone; not even the server's settings module.
    others = [m for m in report["ours"] if not m.startswith("services.client")]
    assert others == ["services.cli"]
