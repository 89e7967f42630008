"""Log lines that cannot be forged or flooded (services.logs), and the body depth scan."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from services import logs
from services.api import bodies


def record(
    msg: str, *args: object, level: int = logging.INFO, name: str = "t"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_control_characters_escape_and_plain_text_stays_as_it_is() -> None:
    assert logs.escape("GET /healthz") == "GET /healthz"
    assert (
        logs.escape("a\nb\rc\td\x1b[2J\x00\x7f\x9b\\") == "a\\nb\\rc\\td\\x1b[2J\\x00\\x7f\\x9b\\\\"
    )
    assert logs.escape("é ü 漢") == "é ü 漢"


def test_the_text_format_escapes_the_message_but_keeps_a_traceback_readable() -> None:
    formatter = logs.LineFormatter("%(levelname)s %(message)s")
    assert (
        formatter.format(record("GET %s 404", "/x\nINFO forged")) == "INFO GET /x\\nINFO forged 404"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed on %s", "/y\x1b", level=logging.ERROR)
        failed.exc_info = sys.exc_info()
    lines = formatter.format(failed).splitlines()
    assert lines[0] == "ERROR failed on /y\\x1b"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"


def test_the_json_format_is_one_object_per_line_with_fields_and_exception() -> None:
    formatter = logs.JsonFormatter("worker")
    line_record = record("GET %s", "/a\nb", name="services.api.access")
    line_record.fields = {"path": "/a\nb", "status": 200}
    line = formatter.format(line_record)
    assert "\n" not in line
    document = json.loads(line)
    assert document["message"] == "GET /a\nb"
    assert document["program"] == "worker"
    assert document["logger"] == "services.api.access"
    assert document["level"] == "INFO"
    assert document["status"] == 200 and document["path"] == "/a\nb"
    try:
        raise KeyError("k")
    except KeyError:
        failed = record("oops", level=logging.ERROR)
        failed.exc_info = sys.exc_info()
    text = formatter.format(failed)
    assert "\n" not in text
    assert json.loads(text)["exception"].endswith("KeyError: 'k'")


def test_identical_errors_pass_in_a_burst_then_are_counted_until_the_window_ends() -> None:
    now = [0.0]
    limit = logs.RepeatLimit(burst=3, window=60.0, clock=lambda: now[0])
    passed = [
        limit.filter(record("enqueue of %s failed", i, level=logging.WARNING)) for i in range(10)
    ]
    assert passed == [True] * 3 + [False] * 7
    other = record("another template", level=logging.WARNING)
    assert limit.filter(other)  # a different message has its own budget
    assert all(limit.filter(record("access %s", i)) for i in range(100))  # INFO never limited
    now[0] = 60.0
    next_one = record("enqueue of %s failed", 11, level=logging.WARNING)
    assert limit.filter(next_one)
    assert next_one.getMessage() == "enqueue of 11 failed [7 identical message(s) suppressed]"


def test_repeat_limit_in_a_configured_process_drops_a_flood(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(program="api", level="INFO", format="text")
    try:
        flood = logging.getLogger("services.test.flood")
        for i in range(500):
            flood.error("redis down: %s", i)
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10
    assert lines[0].endswith("api ERROR services.test.flood: redis down: 0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),
        (b'["\\"[[[", []]', 2),
        (b"[" * 5000 + b"]" * 5000, 5000),
        (b"]]]]", 0),
    ],
)
def test_the_depth_scan_counts_brackets_outside_strings(raw: bytes, expected: int) -> None:
    assert bodies.depth(raw) == expected
