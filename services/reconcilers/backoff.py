"""Exponential backoff for reconnecting to PostgreSQL, Redis or Kubernetes.

Why: a reconciler must outlive an outage of any of them (supervisord would otherwise mark it
FATAL after a few quick exits), without hammering a server that is coming back. Pure
arithmetic: callers sleep on their own (interruptible) clock.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Backoff:
    """Delays of initial, initial*factor, ... capped at maximum; `reset` after a success."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
