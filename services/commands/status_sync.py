"""`dbaas status-sync`: the leader-elected reconciler writing observed state (see
`services.reconcilers.status_sync.loop`). `--once` runs one cycle (tests, benchmarks)."""

from __future__ import annotations

import argparse

from services.reconcilers import command


def configure(parser: argparse.ArgumentParser) -> None:
    command.configure(parser)


def run(args: argparse.Namespace) -> int:
    return command.run("status-sync", args)
