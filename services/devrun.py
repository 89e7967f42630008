"""`make run`: the whole control plane on a developer's machine, in the foreground.

Prepares what supervisord's programs need, then runs supervisord with the repository's
`supervisord.conf`: PostgreSQL and Redis from the settings (private instances under
`$DBAAS_HOME` when those are unreachable and the server binaries are installed), the
migrations, the simulated cluster when no kubeconfig is given, and a development API key
(admin of project `default`) in `$DBAAS_HOME/dev-api-key`. Ctrl-C stops supervisord's
programs in order, then what this launcher started. It never touches a server it did not
start.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis

from services.clients import postgres
from services.settings import Settings
from services.store import keys, migrating

REPO_ROOT = Path(__file__).resolve().parent.parent
PRIVATE_PG_PORT = 55432
PRIVATE_REDIS_PORT = 56379
DEV_PROJECT = "default"


def say(message: str) -> None:
    print(f"make run: {message}", flush=True)


@dataclasses.dataclass
class Children:
    """Processes this launcher started and must stop, last started first."""

    stoppers: list[tuple[str, list[str] | subprocess.Popen[bytes]]] = dataclasses.field(
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
                subprocess.run(stopper, check=False, capture_output=True)
            say(f"stopped {name}")


def postgres_reachable(url: str) -> bool:
    maintenance = psycopg.conninfo.make_conninfo(url, dbname="postgres", connect_timeout="2")
    try:
        psycopg.connect(maintenance).close()
    except psycopg.OperationalError:
        return False
    return True


def redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return False
    finally:
        client.close()
    return True


def start_private_postgres(home: Path, children: Children) -> str:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        raise SystemExit("make run: PostgreSQL is unreachable and no server binaries are installed")
    if os.geteuid() == 0:
        raise SystemExit(
            "make run: PostgreSQL is unreachable; a private instance cannot run as root. "
            "Start one or set DBAAS_DATABASE_URL."
        )
    bin_dir, data = Path(binaries[-1]), home / "postgres"
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
    options = f"-p {PRIVATE_PG_PORT} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", data / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    children.stoppers.append(
        ("private PostgreSQL", [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
    )
    say(f"PostgreSQL unreachable: started a private instance in {data} on port {PRIVATE_PG_PORT}")
    return f"postgresql://postgres@127.0.0.1:{PRIVATE_PG_PORT}/dbaas"


def start_private_redis(home: Path, children: Children) -> str:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("make run: Redis is unreachable and redis-server is not installed")
    data = home / "redis"
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(PRIVATE_REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    children.stoppers.append(("private Redis", process))
    url = f"redis://127.0.0.1:{PRIVATE_REDIS_PORT}/0"
    deadline = time.monotonic() + 10
    while not redis_reachable(url):
        if time.monotonic() > deadline:
            raise SystemExit("make run: the private Redis did not start")
        time.sleep(0.1)
    say(f"Redis unreachable: started a private instance on port {PRIVATE_REDIS_PORT}")
    return url


def start_sim(kubeconfig: Path, children: Children, env: dict[str, str]) -> None:
    kubeconfig.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "sim", "--kubeconfig", str(kubeconfig)],
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
        database_url, redis_url = config.database_url, config.redis_url
        if not postgres_reachable(database_url):
            database_url = start_private_postgres(home, children)
        if not redis_reachable(redis_url):
            redis_url = start_private_redis(home, children)
        env |= {"DBAAS_DATABASE_URL": database_url, "DBAAS_REDIS_URL": redis_url}
        migrating.ensure_database(database_url)
        applied = migrating.apply(database_url)
        say(f"migrations: {len(applied)} applied")
        if config.kubeconfig is None:
            kubeconfig = home / "kubeconfig"
            start_sim(kubeconfig, children, env)
            env["DBAAS_KUBECONFIG"] = str(kubeconfig)
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
