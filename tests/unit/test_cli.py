"""The console script's last line of defence: an unexpected error is logged with the
program's prefix and ends the command with exit status 1."""

from __future__ import annotations

import argparse
import logging

import pytest

from services import cli


def test_an_unexpected_error_is_logged_with_the_program_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(args: argparse.Namespace) -> int:
        raise RuntimeError("boom at startup")

    monkeypatch.setenv("DBAAS_PROGRAM", "worker")
    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=explode, command="worker")
    monkeypatch.setattr(cli, "build_parser", lambda argv: parser)

    assert cli.main([]) == 1

    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "unexpected error" in line]
    assert lines, err
    assert " worker ERROR services.cli: dbaas worker: unexpected error" in lines[0]
    assert "RuntimeError: boom at startup" in err


def test_a_settings_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DBAAS_API_PORT", "not-a-port")
    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=lambda args: 0, command="api")
    monkeypatch.setattr(cli, "build_parser", lambda argv: parser)

    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbaas: ")
    assert "Traceback" not in err


def test_log_lines_read_as_the_standard_formatter_writes_them() -> None:
    fmt = "%(asctime)s api %(levelname)s %(name)s: %(message)s"
    ours, standard = cli.LineFormatter(fmt), logging.Formatter(fmt)
    # the same second twice (the cached rendering), the next second, then an earlier one
    for created in (1764201600.001, 1764201600.999, 1764201601.5, 1764201599.25):
        record = logging.LogRecord("services.api.access", logging.INFO, "f", 1, "GET /", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)
