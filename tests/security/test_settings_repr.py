"""The settings object masks the passwords of its connection URLs wherever it is printed.

`Settings.__repr__` is the one guard between a `log.info("%r", settings)` (or a traceback
showing locals) and the PostgreSQL and Redis passwords. The URL userinfo form is masked,
and so are the other ways libpq and redis-py accept a password.
"""

from __future__ import annotations

import pytest

from services.settings import Settings

PASSWORD = "pw-4d1c-Secret"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/dbaas",
        f"postgres://u:{PASSWORD}@db.example:5432/dbaas?sslmode=require",
        f"redis://default:{PASSWORD}@127.0.0.1:6379/0",
        f"redis://:{PASSWORD}@127.0.0.1:6379/0",
        f"rediss://user:{PASSWORD}@cache.example:6380/1",
    ],
)
def test_a_password_in_url_userinfo_is_masked_in_the_repr(url: str) -> None:
    shown = repr(Settings(database_url=url, redis_url=url))
    assert PASSWORD not in shown
    assert "***" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres@127.0.0.1/dbaas?password={PASSWORD}",  # a libpq URI parameter
        f"host=127.0.0.1 user=postgres password={PASSWORD} dbname=dbaas",  # libpq key=value
        f"postgresql://postgres:ab@{PASSWORD}@127.0.0.1/dbaas",  # an unencoded "@" in it
        f"redis://127.0.0.1:6379/0?password={PASSWORD}",  # redis-py's query parameter
    ],
)
def test_every_other_way_to_pass_a_password_is_masked_too(url: str) -> None:
    assert PASSWORD not in repr(Settings(database_url=url, redis_url=url))
