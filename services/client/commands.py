"""The client's commands (click): `dbaas db ...`, `dbaas ops ...`, `dbaas engines`,
`dbaas login`, `dbaas completion`.

Every command takes `--url`, `--api-key` and `-o/--output`; the mutating ones `--wait` and
`--timeout`. A database is named by its name or its id. Exit codes: 0 done, 1 refused or
failed (the API's problem printed as one line plus its field errors), 2 bad usage, 3 a
`--wait` that timed out (the change goes on; `dbaas ops wait ID` picks it up).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import click

from services.client import backup_policy, config, output, waiting
from services.client.api import Api, ClientFailure, JSONObject

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TIMEOUT = 600.0
DEFAULT_STORAGE = "10Gi"
URI_SCHEMES = {"postgres": "postgresql", "mysql": "mysql", "mongodb": "mongodb", "redis": "redis"}


def connection(command: F) -> F:
    """--url, --api-key and -o: the options every client command takes."""

    @click.option("--url", metavar="URL", help="API base URL [env DBAAS_URL; default: profile]")
    @click.option("--api-key", metavar="KEY", help="API key [env DBAAS_API_KEY]")
    @click.option(
        "-o",
        "--output",
        "fmt",
        type=click.Choice(output.FORMATS),
        default="table",
        show_default=True,
        help="table for people, json or yaml for scripts",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, url: str | None, api_key: str | None, **kwargs: Any) -> Any:
        settings = config.resolve(os.environ, url=url, api_key=api_key)
        with Api(settings) as api:
            return command(api, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def waits(command: F) -> F:
    command = click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="seconds --wait waits before exiting 3",
    )(command)
    return click.option("--wait", is_flag=True, help="wait until done, showing progress")(command)


def _complete_database(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of database names (best effort: nothing when the API is away)."""
    try:
        settings = config.resolve(os.environ)
        with Api(settings, timeout=2.0) as api:
            names = [db["name"] for db in api.pages("/v1/databases")]
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


database_argument = click.argument("database", metavar="NAME", shell_complete=_complete_database)


def _age(database: JSONObject) -> str:
    return str(database["created_at"])[:19].replace("T", " ")


DATABASE_COLUMNS: list[output.Column] = [
    ("NAME", lambda d: d["name"]),
    ("ENGINE", lambda d: d["engine"]),
    ("VERSION", lambda d: d["version"]),
    ("REPLICAS", lambda d: d["replicas"]),
    ("STORAGE", lambda d: d["storage"]),
    ("STATE", lambda d: d["state"]),
    ("PHASE", lambda d: d["status"]["phase"]),
    ("ID", lambda d: d["id"]),
]
OPERATION_COLUMNS: list[output.Column] = [
    ("ID", lambda o: o["id"]),
    ("TYPE", lambda o: o["type"]),
    ("STATE", lambda o: o["state"]),
    ("ORIGIN", lambda o: o["origin"]),
    ("PARAMS", lambda o: ", ".join(f"{k}={v}" for k, v in (o["params"] or {}).items())),
    ("CREATED", lambda o: _age(o)),
    ("ERROR", lambda o: (o["error"] or {}).get("detail")),
]
EVENT_COLUMNS: list[output.Column] = [
    ("TIME", _age),
    ("ACTOR", lambda e: e["actor"]),
    ("KIND", lambda e: e["kind"]),
    ("MESSAGE", lambda e: e["message"]),
]


def _database_fields(database: JSONObject) -> None:
    status = database["status"]
    observed = status.get("observed") or {}

    def versus(field: str, desired: object) -> str:
        seen = observed.get(field)
        return f"{desired}" if seen in (None, desired) else f"{desired} (observed {seen})"

    resources = database["resources"]
    output.fields(
        [
            ("name", database["name"]),
            ("id", database["id"]),
            ("engine", database["engine"]),
            ("version", versus("version", database["version"])),
            ("replicas", versus("replicas", database["replicas"])),
            ("storage", versus("storage", database["storage"])),
            ("cpu", resources.get("cpu")),
            ("memory", resources.get("memory")),
            ("state", database["state"]),
            ("phase", status.get("phase")),
            ("generation", f"{database['generation']} (observed {status['observed_generation']})"),
            ("endpoint", status.get("endpoint")),
            ("message", status.get("message")),
            ("deletion policy", database["deletion_policy"]),
            ("drift policy", database["drift_policy"]),
            *_backup_line(database),
            ("created", _age(database)),
        ]
    )


def _backup_line(database: JSONObject) -> list[tuple[str, object]]:
    """The backup policy and, where the API says it (one database's GET, not a list item),
    the window a point-in-time restore may aim at."""
    lines: list[tuple[str, object]] = []
    if "backup" in database:  # absent: an API from before the backup policy
        lines.append(("backups", backup_policy.describe(database["backup"])))
    if "restorable_window" in database:
        window = database["restorable_window"]
        span = f"{window['earliest']} to {window['latest']}" if window else None
        lines.append(("restorable", span))
    return lines


def _show_database(database: JSONObject, fmt: str) -> None:
    output.show(database, fmt, render=_database_fields)


def after_change(
    api: Api, accepted: JSONObject, fmt: str, *, wait: bool, timeout: float, deleting: bool = False
) -> None:
    """A mutation's result: waited for with --wait, else the accepted state and its operations."""
    operations = accepted.get("operations") or []
    if wait:
        final = waiting.change(api, accepted["id"], operations, timeout=timeout, deleting=deleting)
        if final is not None:
            _show_database(final, fmt)
        elif fmt != "table":
            output.dump({"id": accepted["id"], "deleted": True}, fmt)
        return
    if fmt != "table":
        output.dump(accepted, fmt)
        return
    for op in operations:
        sys.stdout.write(f"{accepted['name']}: {op['type']} {op['state']} (operation {op['id']})\n")
    if not operations:
        sys.stdout.write(f"{accepted['name']}: nothing to change\n")


@click.group(name="db", help="create, inspect, change and delete databases")
def db() -> None:
    pass


@db.command(help="ask for a new database")
@click.argument("name")
@click.option("--engine", required=True, help="postgres, mysql, mongodb or redis")
@click.option("--version", help="a catalog version (see `dbaas engines`) [default: newest]")
@click.option("--replicas", type=int, help="1, or the engine's replicated range")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--cpu", help="CPU request, e.g. 500m")
@click.option("--memory", help="memory request, e.g. 1Gi")
@click.option("--deletion-policy", help="Delete, WipeOut, Halt or DoNotTerminate")
@functools.partial(backup_policy.policy_options, prefix="backup-", pitr_off=False)
@waits
@connection
def create(
    api: Api,
    name: str,
    engine: str,
    version: str | None,
    replicas: int | None,
    storage: str,
    cpu: str | None,
    memory: str | None,
    deletion_policy: str | None,
    schedule: str | None,
    keep_last: int | None,
    max_age: str | None,
    pitr: bool | None,
    wait: bool,
    timeout: float,
    fmt: str,
) -> None:
    body: dict[str, Any] = {"name": name, "engine": engine, "storage": storage}
    body["version"] = version or _newest_version(api, engine)
    if replicas is not None:
        body["replicas"] = replicas
    if cpu or memory:
        body["resources"] = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if deletion_policy:
        body["deletion_policy"] = deletion_policy
    policy = backup_policy.policy_body(
        schedule=schedule, keep_last=keep_last, max_age=max_age, pitr=pitr or None
    )
    if policy is not None:
        body["backup"] = policy
    accepted = api.send("POST", "/v1/databases", body)
    after_change(api, accepted, fmt, wait=wait, timeout=timeout)


def _version_key(name: str) -> tuple[tuple[int, str], ...]:
    parts = name.replace("-", ".").split(".")
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts)


def _newest_version(api: Api, engine: str) -> str:
    engines = {item["name"]: item for item in api.get("/v1/engines")["items"]}
    if engine not in engines:
        # Let the API name the problem with its own words (422 and the engines it knows).
        return ""
    current = [v["name"] for v in engines[engine]["versions"] if not v["end_of_life"]]
    offered = current or [v["name"] for v in engines[engine]["versions"]]
    if not offered:
        raise ClientFailure(f"the catalog offers no version of {engine}; pass --version")
    newest: str = max(offered, key=_version_key)
    return newest


@db.command(name="list", help="the project's databases")
@click.option("--engine", help="only this engine")
@click.option("--state", help="only this state (state=deleted lists deleted ones)")
@connection
def list_(api: Api, engine: str | None, state: str | None, fmt: str) -> None:
    query = {k: v for k, v in (("engine", engine), ("state", state)) if v}
    items = list(api.pages("/v1/databases", **query))
    if fmt == "table" and not items:
        sys.stderr.write("no databases\n")
        return
    output.show({"items": items}, fmt, rows=items, columns=DATABASE_COLUMNS)


@db.command(help="one database: desired spec and observed status")
@database_argument
@connection
def get(api: Api, database: str, fmt: str) -> None:
    _show_database(api.database(database, full=True), fmt)


def _patch(api: Api, database: str, body: JSONObject, fmt: str, wait: bool, timeout: float) -> None:
    found = api.database(database)
    accepted = api.send("PATCH", f"/v1/databases/{found['id']}", body)
    after_change(api, accepted, fmt, wait=wait, timeout=timeout)


@db.command(help="change the number of replicas")
@database_argument
@click.option("--replicas", type=int, required=True)
@waits
@connection
def scale(api: Api, database: str, replicas: int, wait: bool, timeout: float, fmt: str) -> None:
    _patch(api, database, {"replicas": replicas}, fmt, wait, timeout)


@db.command(help="grow the storage or change the CPU/memory requests")
@database_argument
@click.option("--storage", help="the new size (it may only grow)")
@click.option("--cpu", help="CPU request, e.g. 500m")
@click.option("--memory", help="memory request, e.g. 1Gi")
@waits
@connection
def resize(
    api: Api,
    database: str,
    storage: str | None,
    cpu: str | None,
    memory: str | None,
    wait: bool,
    timeout: float,
    fmt: str,
) -> None:
    body: dict[str, Any] = {}
    if storage:
        body["storage"] = storage
    if cpu or memory:
        body["resources"] = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if not body:
        raise click.UsageError("say what to resize: --storage, --cpu and/or --memory")
    _patch(api, database, body, fmt, wait, timeout)


@db.command(help="move to another catalog version")
@database_argument
@click.option("--version", required=True, help="a catalog version (see `dbaas engines`)")
@waits
@connection
def upgrade(api: Api, database: str, version: str, wait: bool, timeout: float, fmt: str) -> None:
    _patch(api, database, {"version": version}, fmt, wait, timeout)


@db.command(help="restart the database's pods")
@database_argument
@waits
@connection
def restart(api: Api, database: str, wait: bool, timeout: float, fmt: str) -> None:
    found = api.database(database)
    accepted = api.send("POST", f"/v1/databases/{found['id']}/restart")
    after_change(api, accepted, fmt, wait=wait, timeout=timeout)


@db.command(help="delete the database (honouring its deletion policy)")
@database_argument
@waits
@connection
def delete(api: Api, database: str, wait: bool, timeout: float, fmt: str) -> None:
    found = api.database(database)
    accepted = api.send("DELETE", f"/v1/databases/{found['id']}")
    after_change(api, accepted, fmt, wait=wait, timeout=timeout, deleting=True)


@db.command(help="a connection URI (the read is audited)")
@database_argument
@click.option("--show-password", is_flag=True, help="print the password instead of ****")
@connection
def credentials(api: Api, database: str, show_password: bool, fmt: str) -> None:
    found = api.database(database)
    secret = api.get(f"/v1/databases/{found['id']}/credentials")
    if not show_password:
        secret = secret | {"password": "****"}
    endpoint = secret.get("endpoint")
    if endpoint is None:
        uri = None
    else:
        scheme = URI_SCHEMES.get(found["engine"], found["engine"])
        password = secret["password"] if not show_password else quote(secret["password"], "")
        uri = f"{scheme}://{quote(secret['username'], '')}:{password}@{endpoint}"
    if fmt != "table":
        output.dump(secret | {"uri": uri}, fmt)
        return
    if uri is None:
        raise ClientFailure(f"{found['name']} has no endpoint yet; retry once it is ready")
    sys.stdout.write(uri + "\n")


@db.command(help="the database's audit trail")
@database_argument
@connection
def events(api: Api, database: str, fmt: str) -> None:
    found = api.database(database)
    items = list(api.pages(f"/v1/databases/{found['id']}/events"))
    output.show({"items": items}, fmt, rows=items, columns=EVENT_COLUMNS)


@click.group(name="ops", help="the operations that carry out changes")
def ops() -> None:
    pass


@ops.command(name="list", help="the project's operations, oldest first")
@click.option("--db", "database", metavar="NAME", help="only this database's (name or id)")
@click.option("--state", help="pending, running, waiting, succeeded, failed or cancelled")
@connection
def ops_list(api: Api, database: str | None, state: str | None, fmt: str) -> None:
    query: dict[str, str | int] = {"state": state} if state else {}
    if database:
        query["database"] = api.database(database)["id"]
    items = list(api.pages("/v1/operations", **query))
    output.show({"items": items}, fmt, rows=items, columns=OPERATION_COLUMNS)


def _show_operation(op: JSONObject, fmt: str) -> None:
    output.show(op, fmt, rows=[op], columns=OPERATION_COLUMNS)


@ops.command(name="get", help="one operation")
@click.argument("operation_id", metavar="ID")
@connection
def ops_get(api: Api, operation_id: str, fmt: str) -> None:
    _show_operation(api.get(f"/v1/operations/{operation_id}"), fmt)


@ops.command(name="wait", help="wait until an operation ends (exit 1 if it fails)")
@click.argument("operation_id", metavar="ID")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT)
@connection
def ops_wait(api: Api, operation_id: str, timeout: float, fmt: str) -> None:
    op = api.get(f"/v1/operations/{operation_id}")
    with waiting.Progress() as progress:
        op = waiting.operation(api, op, progress, timeout=timeout)
    _show_operation(op, fmt)


@ops.command(name="cancel", help="cancel a pending operation")
@click.argument("operation_id", metavar="ID")
@connection
def ops_cancel(api: Api, operation_id: str, fmt: str) -> None:
    _show_operation(api.send("POST", f"/v1/operations/{operation_id}/cancel"), fmt)


ENGINE_COLUMNS: list[output.Column] = [
    ("ENGINE", lambda e: e["name"]),
    ("KIND", lambda e: e["kind"]),
    (
        "REPLICAS",
        lambda e: (
            f"{e['replicas']['standalone']} or "
            f"{e['replicas']['replicated']['minimum']}-{e['replicas']['replicated']['maximum']}"
        ),
    ),
    ("VERSIONS", lambda e: " ".join(v["name"] for v in e["versions"]) or "-"),
]


@click.command(help="the engines and versions a new database may use")
@connection
def engines(api: Api, fmt: str) -> None:
    body = api.get("/v1/engines")
    output.show(body, fmt, rows=body["items"], columns=ENGINE_COLUMNS)


@click.command(help="check an API URL and key, and keep them in the profile file")
@click.option("--url", metavar="URL", help=f"API base URL [default: {config.DEFAULT_URL}]")
@click.option("--api-key", metavar="KEY", help="API key [default: asked for, not echoed]")
def login(url: str | None, api_key: str | None) -> None:
    url = (url or os.environ.get("DBAAS_URL") or config.DEFAULT_URL).rstrip("/")
    key = api_key or click.prompt("API key", hide_input=True)
    settings = config.ClientConfig(url, key.strip(), "--api-key")
    with Api(settings) as api:
        api.get("/v1/databases", limit=1)
    path = config.profile_path(os.environ)
    config.write_profile(path, url, key.strip())
    sys.stdout.write(f"logged in to {url}; profile written to {path}\n")


@click.command(help='print the shell completion script: eval "$(dbaas completion bash)"')
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> None:
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    script = completer(root, {}, "dbaas", "_DBAAS_COMPLETE").source()
    sys.stdout.write(script + "\n")


@click.group(name="dbaas", context_settings={"help_option_names": ["-h", "--help"]})
def root() -> None:
    """The client commands (the server commands are dispatched before click sees argv)."""


for _command in (db, ops, engines, login, completion):
    root.add_command(_command)
