"""The FATAL marker: how `fatal` tells the launcher why supervisord stopped.

supervisord exits 0 whatever made it shut down, and its maintainers decline to add an exit
status for "a program went FATAL". The FATAL handler therefore writes this file before it
shuts supervisord down, and the launcher, running supervisord in its own process, turns the
file into a non-zero exit. The file lives in DBAAS_HOME (an emptyDir in Kubernetes), never
in /tmp.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "supervisord.fatal"


def path(home: Path) -> Path:
    return home / FILE_NAME


def record(home: Path, reason: str) -> None:
    """Write the reason atomically: a reader sees the whole line or no file."""
    target = path(home)
    partial = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    partial.write_text(reason.rstrip("\n") + "\n", encoding="utf-8")
    partial.replace(target)


def read(home: Path) -> str | None:
    """The recorded reason, or None when no program went FATAL."""
    try:
        return path(home).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def clear(home: Path) -> None:
    path(home).unlink(missing_ok=True)
