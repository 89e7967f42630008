"""`dbaas sim`: run the simulated Kubernetes + KubeDB cluster, or steer a running one.

    dbaas sim [--host H] [--port P] [--kubeconfig PATH] [--crds DIR] ...   serve (foreground)
    dbaas sim faults  [--server URL] ...      set / show / clear faults
    dbaas sim phase   RESOURCE NS/NAME PHASE  force Critical / NotReady / Ready
    dbaas sim edit    RESOURCE NS/NAME JSON   out-of-band merge patch (like kubectl edit)
    dbaas sim vanish  RESOURCE NS/NAME        remove an object at once
    dbaas sim reset | stats | compact | drop-watches

Serving prints the URL, the kubeconfig path and then one line starting with `READY_LINE`
that process managers and test fixtures wait for; SIGINT/SIGTERM stop it cleanly. The
steering subcommands talk to the admin endpoint (`/sim/...`) of the server named by
`--server`, else by the kubeconfig (`--kubeconfig`, default `$DBAAS_HOME/kubeconfig`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from services import settings

READY_LINE = "dbaas sim: ready"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = a free port)")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig to write (serve) or read (steer); default $DBAAS_HOME/kubeconfig",
    )
    parser.add_argument(
        "--crds",
        type=Path,
        default=None,
        help="directory of CRD files to validate against "
        "(default: the schema pack shipped in the package, generated from the real KubeDB CRDs)",
    )
    parser.add_argument("--no-crds", action="store_true", help="run without schema validation")
    parser.add_argument(
        "--require-token",
        action="store_true",
        help="refuse Kubernetes requests without the bearer token of the kubeconfig it writes",
    )
    parser.add_argument(
        "--crd-cache",
        type=Path,
        default=None,
        help="cache of parsed CRDs (default $DBAAS_HOME/cache/crds)",
    )
    parser.add_argument(
        "--provision-delay",
        type=float,
        default=1.0,
        help="seconds from database creation to Ready (1.0)",
    )
    parser.add_argument(
        "--ops-step-delay", type=float, default=0.5, help="seconds per OpsRequest step (0.5)"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=20000,
        help="watch events kept; older resourceVersions get 410 (20000)",
    )
    parser.add_argument(
        "--bookmark-interval",
        type=float,
        default=10.0,
        help="seconds between watch BOOKMARK events (10)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="keep the cluster's objects in this file across restarts (default: start empty)",
    )
    parser.add_argument(
        "--state-interval",
        type=float,
        default=1.0,
        help="seconds between state saves while objects change; a clean stop saves too (1)",
    )
    parser.add_argument("--server", default=None, help="URL of a running sim (steering)")
    parser.set_defaults(action=None)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    faults = actions.add_parser("faults", help="set, show or clear faults")
    faults.add_argument("--clear", action="store_true", help="clear every fault first")
    faults.add_argument("--error-rate", type=float, help="probability of an injected error")
    faults.add_argument("--error-codes", default="500", help="comma-separated codes (500)")
    faults.add_argument("--verbs", help="comma-separated verbs the errors apply to (all)")
    faults.add_argument("--resources", help="comma-separated plurals the errors apply to (all)")
    faults.add_argument("--count", type=int, help="stop after this many injected errors")
    faults.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds (1)")
    faults.add_argument("--latency", type=float, help="seconds added to each request")
    faults.add_argument("--latency-verbs", help="comma-separated verbs the latency applies to")
    faults.add_argument(
        "--latency-after",
        action="store_true",
        help="add the latency after handling the request (the change is made, its answer late)",
    )
    faults.add_argument(
        "--drop-watches-every", type=float, help="close every open watch every N seconds (0 = stop)"
    )
    faults.add_argument("--fail-next-ops", metavar="REASON", help="next OpsRequest fails")
    faults.add_argument(
        "--hang-next-ops", action="store_true", help="next OpsRequest hangs in Progressing"
    )
    faults.add_argument("--ops-database", metavar="NS/NAME", help="only for this database")
    faults.add_argument("--ops-count", type=int, default=1, help="how many OpsRequests (1)")
    faults.add_argument(
        "--kubestash",
        metavar="JSON",
        help='KubeStash faults and clock, e.g. \'{"clock_speed": 3600, "backups": [{"mode": '
        '"fail"}], "restores": [{"mode": "hang"}]}\' (services/sim/kubestash/faults.py)',
    )
    faults.add_argument(
        "--seed", type=int, help="seed the injected errors' draws (replays a run's errors)"
    )

    phase = actions.add_parser("phase", help="force a database phase")
    phase.add_argument("resource")
    phase.add_argument("object", metavar="NS/NAME")
    phase.add_argument("phase", choices=["Critical", "NotReady", "Ready"])

    edit = actions.add_parser("edit", help="out-of-band merge patch, as kubectl edit")
    edit.add_argument("resource")
    edit.add_argument("object", metavar="NS/NAME")
    edit.add_argument("patch", help="JSON merge patch")

    vanish = actions.add_parser("vanish", help="remove an object at once")
    vanish.add_argument("resource")
    vanish.add_argument("object", metavar="NS/NAME")

    for name, text in (
        ("reset", "clear everything but the catalog"),
        ("stats", "counters"),
        ("compact", "forced 410 for every older resourceVersion"),
        ("drop-watches", "close every open watch now"),
    ):
        actions.add_parser(name, help=text)
    for action in actions.choices.values():
        # Accept `dbaas sim faults --server URL` as well as `dbaas sim --server URL faults`.
        action.add_argument("--server", default=argparse.SUPPRESS, help="URL of a running sim")
        action.add_argument(
            "--kubeconfig",
            type=Path,
            default=argparse.SUPPRESS,
            help="kubeconfig naming the sim (default $DBAAS_HOME/kubeconfig)",
        )


def _kubeconfig(args: argparse.Namespace) -> Path:
    if args.kubeconfig is not None:
        return Path(args.kubeconfig)
    return settings.Settings.from_env().home / "kubeconfig"


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        return _serve(args)
    return _steer(args)


# -- serving ---------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from services.sim import kubeconfig, persistence, server
    from services.sim.simulator import Options

    home = settings.Settings.from_env().home
    crds = None if args.no_crds else (args.crds or server.PACKED)
    cache = args.crd_cache or home / "cache" / "crds"
    options = Options(
        provision_delay=args.provision_delay,
        ops_step_delay=args.ops_step_delay,
        history=args.history,
        bookmark_interval=args.bookmark_interval,
        state=args.state,
        state_interval=args.state_interval,
    )
    try:
        sim = server.load(crds, options, cache_dir=cache)
    except (FileNotFoundError, persistence.StateError) as exc:
        print(f"dbaas sim: {exc}", file=sys.stderr)
        return 2
    sock = server.bind(args.host, args.port)
    url = server.url_of(sock)
    token = secrets.token_urlsafe(32) if args.require_token else None
    config_path = kubeconfig.write(_kubeconfig(args), url, token=token or kubeconfig.TOKEN)
    access = "token" if token else "open"
    print(f"dbaas sim: serving the simulated cluster at {url}", flush=True)
    print(f"dbaas sim: kubeconfig written to {config_path}", flush=True)
    print(f"dbaas sim: {server.describe_schemas(crds)}", flush=True)
    if token is None:
        print(
            "dbaas sim: running OPEN: any local process may read and change the cluster, "
            "database passwords included (--require-token to require the kubeconfig's token)",
            flush=True,
        )
    else:
        print("dbaas sim: Kubernetes requests need the kubeconfig's bearer token", flush=True)
    if args.state is not None:
        print(
            f"dbaas sim: state kept in {args.state} ({sim.restored} objects restored)", flush=True
        )

    def ready() -> None:
        print(f"{READY_LINE} url={url} kubeconfig={config_path} access={access}", flush=True)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await server.serve(sim, sock, stopping=stopping, on_ready=ready, token=token)

    asyncio.run(main())
    print("dbaas sim: stopped", flush=True)
    return 0


# -- steering --------------------------------------------------------------------------------


def _call(server: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SystemExit(f"dbaas sim: {method} {path} failed ({error.code}): {detail}") from error
    except urllib.error.URLError as error:
        raise SystemExit(f"dbaas sim: cannot reach {server}: {error.reason}") from error


def _object(resource: str, text: str) -> dict[str, Any]:
    namespace, _, name = text.rpartition("/")
    return {"resource": resource, "namespace": namespace or None, "name": name}


def _fault_document(args: argparse.Namespace) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if args.seed is not None:
        document["seed"] = args.seed
    if args.error_rate is not None:
        rule: dict[str, Any] = {
            "codes": [int(code) for code in args.error_codes.split(",") if code],
            "rate": args.error_rate,
            "retry_after": args.retry_after,
        }
        if args.verbs:
            rule["verbs"] = args.verbs.split(",")
        if args.resources:
            rule["resources"] = args.resources.split(",")
        if args.count is not None:
            rule["count"] = args.count
        document["errors"] = [rule] if args.error_rate > 0 else []
    if args.latency is not None:
        latency: dict[str, Any] = {"seconds": args.latency}
        if args.latency_verbs:
            latency["verbs"] = args.latency_verbs.split(",")
        if args.latency_after:
            latency["after"] = True
        document["latency"] = latency
    if args.drop_watches_every is not None:
        document["watch_drop"] = {"interval": args.drop_watches_every or None}
    if args.fail_next_ops or args.hang_next_ops:
        fault: dict[str, Any] = {
            "mode": "hang" if args.hang_next_ops else "fail",
            "count": args.ops_count,
        }
        if args.fail_next_ops:
            fault["reason"] = args.fail_next_ops
        if args.ops_database:
            fault["database"] = args.ops_database
        document["ops"] = [fault]
    if args.kubestash is not None:
        try:
            document["kubestash"] = json.loads(args.kubestash)
        except ValueError as exc:
            raise SystemExit(f"dbaas sim faults: --kubestash is not JSON: {exc}") from None
    return document


def _steer(args: argparse.Namespace) -> int:
    from services.sim import kubeconfig

    server = args.server
    if server is None:
        path = _kubeconfig(args)
        try:
            server = kubeconfig.server_of(path)
        except (OSError, ValueError) as exc:
            print(
                f"dbaas sim: no --server and no usable kubeconfig at {path}: {exc}", file=sys.stderr
            )
            return 2
    action = args.action
    if action == "faults":
        if args.clear:
            _call(server, "DELETE", "/sim/faults")
        document = _fault_document(args)
        result = (
            _call(server, "POST", "/sim/faults", document)
            if document
            else _call(server, "GET", "/sim/faults")
        )
    elif action == "phase":
        result = _call(
            server,
            "POST",
            "/sim/phase",
            {**_object(args.resource, args.object), "phase": args.phase},
        )
    elif action == "edit":
        result = _call(
            server,
            "POST",
            "/sim/edit",
            {**_object(args.resource, args.object), "patch": json.loads(args.patch)},
        )
    elif action == "vanish":
        result = _call(server, "POST", "/sim/vanish", _object(args.resource, args.object))
    elif action == "reset":
        result = _call(server, "POST", "/sim/reset")
    elif action == "stats":
        result = _call(server, "GET", "/sim/stats")
    elif action == "compact":
        result = _call(server, "POST", "/sim/compact")
    else:
        result = _call(server, "POST", "/sim/watches/drop")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
