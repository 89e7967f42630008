"""Where the client finds the API and its key: flags, then environment, then the profile
`dbaas login` writes, then `$DBAAS_HOME/dev-api-key` (what `make run` writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.client import config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dev-api-key").write_text("dbaas_dev_key\n")
    return tmp_path / "home"


def environ(tmp_path: Path, home: Path, **extra: str) -> dict[str, str]:
    return {"DBAAS_HOME": str(home), "DBAAS_PROFILE": str(tmp_path / "profile.json"), **extra}


def test_with_nothing_set_the_dev_key_and_the_local_api_are_used(
    tmp_path: Path, home: Path
) -> None:
    chosen = config.resolve(environ(tmp_path, home))
    assert (chosen.url, chosen.api_key) == ("http://127.0.0.1:8000", "dbaas_dev_key")
    assert chosen.key_source == str(home / "dev-api-key")


def test_the_profile_beats_the_dev_key_the_environment_beats_both_and_flags_beat_all(
    tmp_path: Path, home: Path
) -> None:
    config.write_profile(tmp_path / "profile.json", "http://profile:1", "dbaas_profile_key")
    assert (tmp_path / "profile.json").stat().st_mode & 0o777 == 0o600
    env = environ(tmp_path, home)
    assert config.resolve(env).api_key == "dbaas_profile_key"
    assert config.resolve(env).url == "http://profile:1"
    env |= {"DBAAS_URL": "http://env:2/", "DBAAS_API_KEY": "dbaas_env_key"}
    chosen = config.resolve(env)
    assert (chosen.url, chosen.api_key, chosen.key_source) == (
        "http://env:2",
        "dbaas_env_key",
        "DBAAS_API_KEY",
    )
    flagged = config.resolve(env, url="http://flag:3", api_key="dbaas_flag_key")
    assert (flagged.url, flagged.api_key) == ("http://flag:3", "dbaas_flag_key")


def test_no_key_anywhere_is_no_key_and_says_so(tmp_path: Path) -> None:
    chosen = config.resolve(environ(tmp_path, tmp_path / "missing"))
    assert chosen.api_key is None and chosen.key_source == "nowhere"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_an_unreadable_profile_is_a_clear_error(tmp_path: Path, home: Path, content: str) -> None:
    (tmp_path / "profile.json").write_text(content)
    with pytest.raises(config.ConfigError, match="run `dbaas login`"):
        config.resolve(environ(tmp_path, home))


def test_the_profile_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "profile.json"
    config.write_profile(path, "http://a:1", "k1")
    config.write_profile(path, "http://b:2", "k2")
    assert json.loads(path.read_text()) == {"url": "http://b:2", "api_key": "k2"}
    assert [p.name for p in path.parent.iterdir()] == ["profile.json"]
