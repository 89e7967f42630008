"""Log records as lines nobody can forge or flood: text or JSON, one record per line.

Why: log lines carry text a client chose (a request path, a database name, a header an
error quotes). Written raw, `GET /healthz%0a<fake line>` writes a line of the client's
making and `%1b[2J` clears an operator's terminal. So a record's message has its control
characters escaped (`\\n`, `\\x1b`, ...) in the text format, and the JSON format
(`DBAAS_LOG_FORMAT=json`) escapes everything by construction. A traceback stays a
traceback: it is the program's own text, appended after the escaped message.

And a failing dependency must not turn into a log flood: `RepeatLimit` lets a burst of
identical warnings and errors through, then drops the rest of the window and says how many
it dropped with the next one it lets through.

This module never reads the environment; `cli.configure_logging` picks the format.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

FORMATS = ("text", "json")
# C0 controls, DEL and the C1 controls (0x9b is a one-byte CSI on some terminals), and the
# backslash, so an escaped sequence cannot be confused with one the client typed.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def escape(text: str) -> str:
    """`text` with every control character written as an escape: one line, no terminal codes."""
    if _UNSAFE.search(text) is None:  # the common case costs one scan
        return text
    return _UNSAFE.sub(_escape_one, text)


class LineFormatter(logging.Formatter):
    """The standard formatter with the message escaped, and the date and time of `asctime`
    rendered once per second instead of once per record (the API writes an access line per
    request)."""

    _rendered: tuple[int, str] = (-1, "")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        rendered_second, rendered = self._rendered
        if second != rendered_second:
            rendered = time.strftime(self.default_time_format, self.converter(record.created))
            self._rendered = (second, rendered)  # one tuple: threads never see half of it
        return f"{rendered},{int(record.msecs):03d}"  # the standard default_msec_format


class JsonFormatter(logging.Formatter):
    """One JSON object per record and line: time (RFC 3339, UTC), program, level, logger,
    message, and `exception` (the traceback text) when there is one. Records that carry
    structured `fields` (the access line) add them as keys of their own."""

    def __init__(self, program: str) -> None:
        super().__init__()
        self.program = program

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "program": self.program,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(document, default=str).decode()


class RepeatLimit(logging.Filter):
    """At most `burst` identical warnings or errors per `window` seconds; the rest are dropped
    and counted, and the next one let through says how many were.

    "Identical" is the same logger, level, message template and exception type: one failing
    dependency repeats one template with other arguments (`operations %s: enqueue failed`),
    and that is the flood to hold back. INFO and below (the access lines) pass untouched.
    """

    def __init__(
        self,
        *,
        burst: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1000,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key → [window start, passed in the window, dropped since the last one passed]
        self._seen: dict[tuple[Any, ...], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc_type = record.exc_info[0] if record.exc_info else None
        key = (record.name, record.levelno, str(record.msg), exc_type)
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] >= self.window:
                dropped = int(entry[2]) if entry is not None else 0
                if entry is None and len(self._seen) >= self._max_keys:
                    self._seen.clear()  # bounded: a reset only lets a burst through again
                self._seen[key] = [now, 1, 0]
            elif entry[1] < self.burst:
                entry[1] += 1
                dropped, entry[2] = int(entry[2]), 0
            else:
                entry[2] += 1
                return False
        if dropped:
            record.msg = f"{record.msg} [{dropped} identical message(s) suppressed]"
        return True


def configure(*, program: str, level: str, format: str) -> None:
    """One handler on stderr for the whole process, in the chosen format."""
    # The format names no thread or process: do not look them up for every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    if format == "json":
        handler.setFormatter(JsonFormatter(program))
    else:
        handler.setFormatter(
            LineFormatter(f"%(asctime)s {program} %(levelname)s %(name)s: %(message)s")
        )
    handler.addFilter(RepeatLimit())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
