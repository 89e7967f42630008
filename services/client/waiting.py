"""`--wait`: follow a change until it is done, showing the operation's state and the phase.

The API answers a mutation with the operations that carry it out; waiting polls each of
them in order until it ends, then the database until it is ready and caught up (observed
generation ≥ generation), or gone for a deletion. On a terminal the progress is a rich
spinner on stderr; otherwise one plain line per change of state, so logs stay readable.
stdout keeps only the result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from services.client.api import PROBLEM_BASE, Api, ClientFailure, JSONObject

POLL_SECONDS = 0.5
ENDED = ("succeeded", "failed", "cancelled")


class OperationFailed(ClientFailure):
    def __init__(self, operation: JSONObject) -> None:
        self.operation = operation
        error = operation.get("error") or {}
        slug = str(error.get("type") or "").removeprefix(PROBLEM_BASE)
        detail = error.get("detail") or error.get("title") or "no reason given"
        super().__init__(
            f"operation {operation['type']} {operation['id']} {operation['state']}: {detail}"
            + (f" ({slug})" if slug else "")
        )


class WaitTimedOut(ClientFailure):
    exit_code = 3


class Progress:
    """Says what is being waited for: a spinner on a terminal, lines otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._last = ""
        self._status: Any = None
        self._console: Any = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)

    def __enter__(self) -> Progress:
        if self._console is not None:
            self._status = self._console.status("waiting")
            self._status.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._status is not None:
            self._status.stop()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"{text} [dim]{self.elapsed():.0f}s[/dim]")
        elif text != self._last:
            sys.stderr.write(f"[{self.elapsed():6.1f}s] {text}\n")
            sys.stderr.flush()
        self._last = text

    def done(self, text: str) -> None:
        line = f"{text} ({self.elapsed():.1f}s)"
        if self._console is not None:
            self._console.print(f"[green]✓[/green] {line}")
        else:
            sys.stderr.write(f"[{self.elapsed():6.1f}s] {text}\n")
            sys.stderr.flush()


def _deadlines(timeout: float) -> Iterator[None]:
    """Yields before each poll; raises once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    first = True
    while True:
        if not first:
            if time.monotonic() >= deadline:
                raise WaitTimedOut("")
            time.sleep(POLL_SECONDS)
        first = False
        yield


def _phase(database: JSONObject | None) -> str:
    if database is None:
        return "gone"
    phase = database["status"].get("phase") or "-"
    return f"{database['state']}, phase {phase}"


def operation(
    api: Api, op: JSONObject, progress: Progress, *, timeout: float, asked: float | None = None
) -> JSONObject:
    """Poll one operation until it ends; its final form, or OperationFailed. `asked`: the
    --timeout the user gave, when `timeout` is what remains of it."""
    label = f"{op['type']} {op['id']}"
    try:
        for _ in _deadlines(timeout):
            if op["state"] in ENDED:
                break
            database = api.database_or_none(op["database_id"])
            name = database["name"] if database else op["database_id"]
            progress.update(f"{name}: {op['type']} {op['state']} · {_phase(database)}")
            op = api.get(f"/v1/operations/{op['id']}")
            if op["state"] in ENDED:
                break
    except WaitTimedOut:
        raise WaitTimedOut(
            f"timed out after {asked or timeout:g}s waiting for operation {label} "
            f"(still {op['state']}); it goes on: `dbaas ops wait {op['id']}`"
        ) from None
    if op["state"] != "succeeded":
        raise OperationFailed(op)
    progress.done(f"{op['type']} succeeded")
    return op


def change(
    api: Api,
    database_id: str,
    operations: Sequence[JSONObject],
    *,
    timeout: float,
    deleting: bool = False,
) -> JSONObject | None:
    """Wait for a mutation's operations, then for the database to be ready (or gone)."""
    with Progress() as progress:
        for op in operations:
            remaining = max(timeout - progress.elapsed(), 0.0)
            operation(api, op, progress, timeout=remaining, asked=timeout)
        remaining = max(timeout - progress.elapsed(), 0.0)
        database: JSONObject | None = None
        try:
            for _ in _deadlines(remaining):
                database = api.database_or_none(database_id)
                if database is None:
                    if deleting:
                        progress.done("deleted")
                        return None
                    raise ClientFailure(f"database {database_id} is gone")
                if not deleting and _settled(database):
                    progress.done(f"{database['name']} ready")
                    return database
                if database["state"] == "failed":
                    message = database["status"].get("message") or "no message"
                    raise ClientFailure(f"database {database['name']} failed: {message}")
                progress.update(f"{database['name']}: {_phase(database)}")
        except WaitTimedOut:
            what = "to be deleted" if deleting else "to be ready"
            raise WaitTimedOut(
                f"timed out after {timeout:g}s waiting for {database_id} {what} "
                f"(now {_phase(database)})"
            ) from None
    return database


def _settled(database: JSONObject) -> bool:
    observed = database["status"].get("observed_generation")
    return bool(
        database["state"] == "ready" and observed is not None and observed >= database["generation"]
    )
