"""Where the client finds the API and its key: flags, then environment, then the profile.

The client is its own program with its own settings, so it reads its own environment
variables here rather than through the server's `services.settings`:

- `DBAAS_URL` (else the profile's url, else http://127.0.0.1:8000);
- `DBAAS_API_KEY` (else the profile's key, else `$DBAAS_HOME/dev-api-key` when that exists,
  which is what `make run` writes; `DBAAS_HOME` defaults to `.dbaas` as for the server);
- `DBAAS_PROFILE`: the profile file `dbaas login` writes (default
  `$XDG_CONFIG_HOME/dbaas/profile.json`, i.e. `~/.config/dbaas/profile.json`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The client's configuration cannot be used (an unreadable profile, no key)."""


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    url: str
    api_key: str | None
    key_source: str
    """Where the key came from, named in the error when the API refuses it."""


def profile_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("DBAAS_PROFILE")
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dbaas" / "profile.json"


def read_profile(path: Path) -> dict[str, str]:
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the profile {path}: {exc.strerror}") from exc
    try:
        profile = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"the profile {path} is not JSON ({exc}); run `dbaas login`") from exc
    if not isinstance(profile, dict):
        raise ConfigError(f"the profile {path} is not a JSON object; run `dbaas login`")
    return {k: v for k, v in profile.items() if isinstance(k, str) and isinstance(v, str)}


def write_profile(path: Path, url: str, api_key: str) -> None:
    """Write the profile readable by its owner only: it holds a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"url": url, "api_key": api_key}, file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


def resolve(
    environ: Mapping[str, str], *, url: str | None = None, api_key: str | None = None
) -> ClientConfig:
    """The configuration from flags (`url`, `api_key`), the environment and the profile."""
    profile = read_profile(profile_path(environ))
    chosen_url = url or environ.get("DBAAS_URL") or profile.get("url") or DEFAULT_URL
    if api_key:
        return ClientConfig(chosen_url.rstrip("/"), api_key, "--api-key")
    if environ.get("DBAAS_API_KEY"):
        return ClientConfig(chosen_url.rstrip("/"), environ["DBAAS_API_KEY"], "DBAAS_API_KEY")
    if profile.get("api_key"):
        source = f"the profile {profile_path(environ)}"
        return ClientConfig(chosen_url.rstrip("/"), profile["api_key"], source)
    dev_key = Path(environ.get("DBAAS_HOME") or ".dbaas") / "dev-api-key"
    try:
        key = dev_key.read_text().strip()
    except OSError:
        return ClientConfig(chosen_url.rstrip("/"), None, "nowhere")
    return ClientConfig(chosen_url.rstrip("/"), key or None, str(dev_key))
