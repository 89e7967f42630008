"""supervisord's event listener protocol, on byte streams.

A listener writes `READY\n`, reads one header line of `key:value` tokens whose `len` gives
the size of the payload that follows, handles the event, and answers `RESULT 2\nOK` (or
`FAIL`, and supervisord sends the event again later). Anything else a listener writes to its
stdout corrupts the protocol, so nothing here prints: diagnostics go to stderr.
"""

from __future__ import annotations

from typing import BinaryIO, NamedTuple


class ProtocolError(ValueError):
    """supervisord sent something that is not an event."""


class Event(NamedTuple):
    name: str
    """PROCESS_STATE_FATAL, TICK_5, ..."""
    headers: dict[str, str]
    """The header tokens (ver, server, serial, pool, poolserial, eventname, len)."""
    payload: dict[str, str]
    """The payload's first line as tokens: processname, groupname, from_state, ..."""


def parse_tokens(line: str) -> dict[str, str]:
    """`a:1 b:2` -> {"a": "1", "b": "2"}; a value may itself contain colons."""
    tokens: dict[str, str] = {}
    for token in line.split():
        key, separator, value = token.partition(":")
        if not separator:
            raise ProtocolError(f"token without a colon: {token!r}")
        tokens[key] = value
    return tokens


def parse_event(header_line: bytes, payload: bytes) -> Event:
    headers = parse_tokens(header_line.decode("utf-8"))
    if "eventname" not in headers:
        raise ProtocolError(f"header without eventname: {header_line!r}")
    first_line = payload.decode("utf-8", errors="replace").split("\n", 1)[0]
    return Event(headers["eventname"], headers, parse_tokens(first_line))


def wait(stdin: BinaryIO, stdout: BinaryIO) -> Event | None:
    """Announce READY and block until the next event; None once supervisord closes stdin."""
    stdout.write(b"READY\n")
    stdout.flush()
    header_line = stdin.readline()
    if not header_line:
        return None
    headers = parse_tokens(header_line.decode("utf-8"))
    try:
        length = int(headers["len"])
    except (KeyError, ValueError) as exc:
        raise ProtocolError(f"header without a valid len: {header_line!r}") from exc
    payload = stdin.read(length)
    if len(payload) < length:
        return None
    return parse_event(header_line, payload)


def answer(stdout: BinaryIO, *, ok: bool = True) -> None:
    body = b"OK" if ok else b"FAIL"
    stdout.write(b"RESULT %d\n%s" % (len(body), body))
    stdout.flush()
