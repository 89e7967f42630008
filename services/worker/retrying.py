"""The worker's retry policy for transient Kubernetes errors: exponential backoff with jitter.

Two levels, both bounded:
- within one job, a step that meets a transient error (429, 5xx, timeouts, connection
  errors) is retried `tries` times with delays `base * 2**n`, capped at `cap`, each jittered
  by ±50% so workers that failed together do not retry together;
- across jobs, an operation is claimed at most `max_claims` times (the attempt counter of
  the claim); a job that exhausts its tries releases the operation for the sweeper to
  dispatch again, and the claim that exceeds `max_claims` fails it.

This module never sleeps by itself: the caller passes the sleep and the random source, so
tests run the whole policy without wall time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    tries: int = 5
    """Attempts of one step within one job (the first included)."""
    base: float = 0.2
    """First delay, seconds."""
    cap: float = 3.0
    """Longest delay, seconds."""
    max_claims: int = 8
    """Claims of one operation before it fails instead of running again."""

    def delay(self, retry: int, random: Callable[[], float]) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        nominal = min(self.cap, self.base * 2.0 ** (retry - 1))
        return min(self.cap, nominal * (0.5 + random()))

    def delays(self, random: Callable[[], float]) -> list[float]:
        """Every delay of one job's retries, in order (len == tries - 1)."""
        return [self.delay(retry, random) for retry in range(1, self.tries)]
