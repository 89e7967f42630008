"""Bearer parsing, role ranks and the short-lived cache of successful authentications."""

from __future__ import annotations

import uuid

import pytest
from starlette.requests import Request

from services.api import auth
from services.api.problems import Problem
from services.domain.records import Principal


def request_with(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def principal(role: str) -> Principal:
    return Principal(key_id=uuid.uuid4(), project_id="alpha", role=role)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bearer_key_is_read_case_insensitively_from_the_scheme() -> None:
    assert auth.bearer_token(request_with("Bearer dbaas_a_b")) == "dbaas_a_b"
    assert auth.bearer_token(request_with("bearer  dbaas_a_b ")) == "dbaas_a_b"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "dbaas_a_b"])
def test_a_missing_or_non_bearer_header_is_401_with_a_challenge(header: str | None) -> None:
    with pytest.raises(Problem) as exc:
        auth.bearer_token(request_with(header))
    assert exc.value.status == 401
    assert exc.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("viewer", "viewer", True),
        ("viewer", "operator", False),
        ("operator", "operator", True),
        ("operator", "admin", False),
        ("admin", "operator", True),
        ("admin", "admin", True),
    ],
)
def test_roles_are_ordered_viewer_operator_admin(role: str, needed: str, allowed: bool) -> None:
    if allowed:
        auth.require(principal(role), needed)
    else:
        with pytest.raises(Problem) as exc:
            auth.require(principal(role), needed)
        assert exc.value.status == 403


def test_a_cached_authentication_expires_after_the_ttl() -> None:
    clock = Clock()
    cache = auth.KeyCache(5.0, clock=clock)
    who = principal("viewer")
    cache.put("dbaas_a_b", who)
    assert cache.get("dbaas_a_b") == who
    assert cache.get("dbaas_a_c") is None
    clock.now += 4.9
    assert cache.get("dbaas_a_b") == who
    clock.now += 0.2
    assert cache.get("dbaas_a_b") is None


def test_a_zero_ttl_disables_the_cache() -> None:
    cache = auth.KeyCache(0)
    cache.put("dbaas_a_b", principal("viewer"))
    assert cache.get("dbaas_a_b") is None


def test_the_cache_never_holds_the_key_itself() -> None:
    cache = auth.KeyCache(5.0)
    cache.put("dbaas_abc_secretpart", principal("viewer"))
    assert "secretpart" not in repr(cache.__dict__)
    assert all(isinstance(k, bytes) and b"secretpart" not in k for k in cache._entries)


def test_the_cache_stays_bounded() -> None:
    cache = auth.KeyCache(5.0)
    for index in range(auth.MAX_CACHED_KEYS + 10):
        cache.put(f"dbaas_x_{index}", principal("viewer"))
    assert len(cache._entries) <= auth.MAX_CACHED_KEYS
