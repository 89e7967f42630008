"""Ends supervisord, from inside it, when any program goes FATAL.

A FATAL program stays down inside a pod that still looks alive, so the whole pod fails
instead and Kubernetes restarts it. supervisord builds its RPC interfaces in its own process
at startup, before its main loop; `[rpcinterface:dbaas]` in supervisord.conf names
`make_rpcinterface`, which subscribes `FatalHandler` to supervisord's FATAL events. On the
first one the handler records the reason (see `marker`); on every one it logs a line and
sets supervisord's mood to SHUTDOWN, which is all supervisord's own SIGTERM handling does:
its main loop then stops every program in priority order and returns, and the launcher
(`supervise`) exits 1.

The same factory subscribes the heartbeat `watchdog` to supervisord's TICK_5 events: it
kills a program that stopped beating, and supervisord starts it again.

Events are delivered synchronously from supervisord's main loop, so the handler must never
raise (an exception would escape that loop and end supervisord with its programs left
running), never block, never restart a program, and never import the programs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from supervisor import events
from supervisor.states import SupervisorStates, getProcessStateDescription

from services.settings import Settings
from services.supervision import marker, watchdog

_T = TypeVar("_T")


def describe(event: events.ProcessStateFatalEvent) -> str:
    """`program api went FATAL (from BACKOFF)`: the line the marker holds."""
    name = event.process.config.name
    return f"program {name} went FATAL (from {getProcessStateDescription(event.from_state)})"


class FatalHandler:
    """Called by supervisord with every ProcessStateFatalEvent of one supervisord run."""

    def __init__(self, supervisord: Any, *, home: Path) -> None:
        self.supervisord = supervisord
        self.home = home
        self.reason: str | None = None
        """The first FATAL of this run: the cause the marker keeps."""

    def __call__(self, event: events.ProcessStateFatalEvent) -> None:
        options = self.supervisord.options
        # Shutdown first: whatever fails below, the pod must not stay up with a FATAL program.
        options.mood = SupervisorStates.SHUTDOWN
        try:
            reason = describe(event)
            if self.reason is None:
                self.reason = reason
                self._record(reason)
            options.logger.warn("dbaas: %(reason)s: stopping every program", reason=reason)
        except Exception as exc:  # never raise into supervisord: see the module docstring
            options.logger.critical("dbaas: FATAL handler failed: %(exc)r", exc=exc)

    def _record(self, reason: str) -> None:
        try:
            marker.record(self.home, reason)
        except OSError as exc:
            self.supervisord.options.logger.error(
                "dbaas: cannot record %(reason)s in %(home)s: %(exc)s",
                reason=reason,
                home=self.home,
                exc=exc,
            )


class RPCInterface:
    """`dbaas.*` on supervisord's control socket; read-only."""

    def __init__(self, handler: FatalHandler, dog: watchdog.Watchdog) -> None:
        self._handler = handler
        self._watchdog = dog

    def getFatalReason(self) -> str:  # camelCase like supervisord's own XML-RPC methods
        """The first program that went FATAL in this run, as the marker says; "" if none."""
        return self._handler.reason or ""

    def getWatchdogRestarts(self) -> list[str]:
        """The programs the heartbeat watchdog killed in this run, in order."""
        return list(self._watchdog.restarts)


def make_rpcinterface(supervisord: Any, *, home: str, programs: str = "") -> RPCInterface:
    """The factory `[rpcinterface:dbaas]` names; `home` is `%(ENV_DBAAS_HOME)s` there,
    `programs` the programs that beat (space-separated), which the watchdog watches.

    supervisord calls it once per control server ([unix_http_server], [inet_http_server]),
    so the subscription is made once per run; it calls it again after a SIGHUP reload, once
    its event subscriptions were cleared.
    """
    handler = _subscribed(supervisord, FatalHandler)
    if handler is None:
        handler = FatalHandler(supervisord, home=Path(home))
        events.subscribe(events.ProcessStateFatalEvent, handler)
    dog = _subscribed(supervisord, watchdog.Watchdog)
    if dog is None:
        timeout = Settings.from_env().heartbeat_timeout_seconds
        dog = watchdog.Watchdog(
            supervisord, home=Path(home), timeout=timeout, beating=frozenset(programs.split())
        )
        events.subscribe(events.Tick5Event, dog)
    return RPCInterface(handler, dog)


def _subscribed(supervisord: Any, kind: type[_T]) -> _T | None:
    for _, callback in events.callbacks:
        if isinstance(callback, kind) and getattr(callback, "supervisord", None) is supervisord:
            return callback
    return None
