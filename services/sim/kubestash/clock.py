"""The simulated clock KubeStash's schedules, snapshot times and retention run on.

Tests cannot wait for a daily cron: the fault document's `kubestash.clock_speed` makes
simulated time run N times faster than wall time (3600: an hour per second), anchored
where the speed last changed so time never jumps backwards. Object timestamps written by
the API server (creationTimestamp) stay on wall time, as they do in a real cluster whose
KubeStash operator is simply the one thing that is fast here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable


def _wall() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SimClock:
    def __init__(self, wall: Callable[[], datetime.datetime] = _wall) -> None:
        self._wall = wall
        self.speed = 1.0
        self._anchor_wall = wall()
        self._anchor_sim = self._anchor_wall

    def now(self) -> datetime.datetime:
        elapsed = (self._wall() - self._anchor_wall).total_seconds()
        return self._anchor_sim + datetime.timedelta(seconds=elapsed * self.speed)

    def set_speed(self, speed: float) -> None:
        """Run `speed` times faster from now on (re-anchored: no jump)."""
        if speed == self.speed:
            return
        now = self.now()
        self._anchor_wall, self._anchor_sim = self._wall(), now
        self.speed = speed

    def wall_seconds(self, simulated: float) -> float:
        """Wall seconds until `simulated` seconds have passed on this clock."""
        return simulated / self.speed if self.speed > 0 else simulated
