"""Shared by the log tests: connection URLs that carry passwords, and the leak check.

PostgreSQL here trusts local connections, so a URL with a password connects and the
password is simply ignored; Redis accepts `AUTH default <anything>` while its default user
has no password. So the real servers run with URLs whose passwords a leak would show.
"""

from __future__ import annotations

import dataclasses

import psycopg
import redis

DB_PASSWORD = "S3cretPassw0rd-pg-5e1f"
REDIS_PASSWORD = "R3disPassw0rd-7a9c"
KUBE_TOKEN = "dbaas-sim-token"  # the simulated cluster's bearer token, from its kubeconfig


def postgres_url_with_password(database_url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
    return (
        f"postgresql://{info.get('user', 'postgres')}:{DB_PASSWORD}@{host}:{port}/{info['dbname']}"
    )


def redis_url_with_password(redis_url: str) -> str | None:
    """The same db with `default:<password>` userinfo, or None when Redis refuses it."""
    url = redis_url.replace("redis://", f"redis://default:{REDIS_PASSWORD}@", 1)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        print(f"Redis refuses a password ({exc}); the Redis URL part of the check is skipped")
        return None
    finally:
        client.close()
    return url


@dataclasses.dataclass
class Secrets:
    """Everything no log line may contain, by what it is (for the failure message)."""

    named: dict[str, str] = dataclasses.field(default_factory=dict)

    def add(self, what: str, value: str) -> None:
        assert value, what
        self.named[what] = value

    def add_key(self, what: str, token: str) -> None:
        self.add(what, token)
        self.add(f"{what} (secret part)", token.split("_", 2)[2])

    def found_in(self, text: str) -> list[str]:
        return [what for what, value in self.named.items() if value in text]
