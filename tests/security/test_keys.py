"""API keys are stored only as a digest, and compared only in constant time.

Storage is checked on the real thing: keys made by `dbaas keys create` and by the store,
then used over HTTP (which writes last_used_at, events and Idempotency-Key answers), then
every row of every table read back as text: neither a key, nor its secret part, nor any
8-character stretch of that secret appears anywhere; the prefix (the public lookup part)
does, and the digest column is the SHA-256 of the key.

Constant time is proven structurally: `services.store.keys.authenticate` reaches its
verdict on the secret through `hmac.compare_digest` alone, on two digests of equal length
whatever the input (a spy replaces `hmac` in OUR module, services.store.keys; a unit-level
patch at our own boundary), and no `==`/`!=` in that module ever touches a digest or the
secret.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import subprocess
import sys
import types
from typing import Any

import pytest

from services.clients import postgres
from services.store import keys
from tests.api_harness import (
    LiveApi,
    spec,
)

WINDOW = 8


def dbaas_keys_create(database_url: str, project: str, role: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "keys",
            "create",
            "--project",
            project,
            "--role",
            role,
        ],
        env=os.environ | {"DBAAS_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def every_row_as_text(database_url: str) -> str:
    """All rows of all tables of the public schema, bytea included (as hex), as one text."""
    with postgres.connect(database_url) as conn:
        tables = [
            row["tablename"]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        texts = []
        for table in tables:
            rows = conn.execute(f'SELECT row_to_json(t)::text AS j FROM "{table}" t').fetchall()
            texts += [row["j"] for row in rows]
    assert "api_keys" in tables and "idempotency_keys" in tables
    return "\n".join(texts)


def secret_of(token: str) -> str:
    prefix_word, _prefix, secret = token.split("_", 2)
    assert prefix_word == keys.KEY_PREFIX and len(secret) >= 24
    return secret


def test_no_table_holds_a_key_or_any_stretch_of_its_secret(api: LiveApi) -> None:
    tokens = [
        dbaas_keys_create(api.database_url, "alpha", "admin"),
        dbaas_keys_create(api.database_url, "alpha", "viewer"),
        api.key(role="operator"),
    ]
    with api.client(tokens[0]) as client:
        created = client.post(
            "/v1/databases", json=spec("orders"), headers={"Idempotency-Key": "k1"}
        )
        client.post(f"/v1/databases/{created.json()['id']}/restart")
    with api.client(tokens[1]) as client:
        client.get("/v1/databases")
    with api.client(tokens[2]) as client:
        client.get(f"/v1/databases/{created.json()['id']}/events")
    dump = every_row_as_text(api.database_url)

    for token in tokens:
        secret = secret_of(token)
        assert token not in dump
        stretches = {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
        found = sorted(s for s in stretches if s in dump)
        assert found == [], f"parts of a key's secret are stored: {found}"
        assert token.split("_")[1] in dump  # the prefix is the lookup key, and public
    with postgres.connect(api.database_url) as conn:
        rows = conn.execute("SELECT prefix, secret_sha256 FROM api_keys").fetchall()
    digests = {row["prefix"]: bytes(row["secret_sha256"]) for row in rows}
    for token in tokens:
        assert digests[token.split("_")[1]] == hashlib.sha256(token.encode()).digest()


class CompareSpy:
    """Stands in for the `hmac` module inside services.store.keys; records each compare."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes]] = []

    def compare_digest(self, a: Any, b: Any) -> bool:
        import hmac

        self.calls.append((a, b))
        return hmac.compare_digest(a, b)


@pytest.fixture(name="spy")
def spy_fixture(monkeypatch: pytest.MonkeyPatch) -> CompareSpy:
    spy = CompareSpy()
    monkeypatch.setattr(keys, "hmac", types.SimpleNamespace(compare_digest=spy.compare_digest))
    return spy


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t,
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t + "x" * 500,
        lambda t: t[: len(t) // 2],
        lambda t: t.rsplit("_", 1)[0] + "_",
    ],
    ids=["the key", "last character changed", "500 characters longer", "half", "no secret"],
)
def test_every_verdict_on_a_secret_goes_through_compare_digest_on_equal_length_digests(
    database_url: str, spy: CompareSpy, forge: Any
) -> None:
    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id="alpha", role="admin")
        attempt = forge(token)
        principal = keys.authenticate(conn, attempt)
    assert (principal is not None) == (attempt == token)
    [(stored, offered)] = spy.calls
    assert isinstance(stored, bytes) and isinstance(offered, bytes)
    assert len(stored) == len(offered) == hashlib.sha256().digest_size
    assert offered == hashlib.sha256(attempt.encode()).digest()


def test_an_unknown_prefix_is_refused_without_looking_at_any_secret(
    database_url: str, spy: CompareSpy
) -> None:
    """The prefix is public (it is listed and logged); only the secret needs constant time."""
    with postgres.connect(database_url) as conn:
        keys.create(conn, project_id="alpha", role="admin")
        assert keys.authenticate(conn, "dbaas_000000000000_" + "A" * 32) is None
    assert spy.calls == []


def test_no_equality_operator_in_the_key_store_touches_a_digest_or_a_secret() -> None:
    tree = ast.parse(inspect.getsource(keys))
    suspects = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            text = ast.unparse(node)
            if any(word in text for word in ("digest", "secret", "sha256", "token")):
                suspects.append(text)
    assert suspects == []
    source = inspect.getsource(keys.authenticate)
    assert source.count("hmac.compare_digest(") == 1
    assert "WHERE prefix = %s" in source  # found by the public part, never by the secret
