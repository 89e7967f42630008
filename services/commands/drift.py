"""`dbaas drift`: the leader-elected reconciler comparing desired state with the cluster
(see `services.reconcilers.drift.loop`). `--once` runs one pass (tests, benchmarks)."""

from __future__ import annotations

import argparse

from services.reconcilers import command


def configure(parser: argparse.ArgumentParser) -> None:
    command.configure(parser)


def run(args: argparse.Namespace) -> int:
    return command.run("drift", args)
