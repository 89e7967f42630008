"""py-spy around a benchmark's phase: where a program's time goes, sampled from outside.

    with profiling.record(pid, out_dir / "status-sync.txt"):
        ...  # the phase

`py-spy record` (installed with the test extras) samples the process at `rate` Hz without
stopping it (`--nonblocking`), idle threads included (a thread waiting for PostgreSQL or
the cluster is time the phase spends too), and writes collapsed stacks (`--format raw`:
one line per distinct stack, its sample count last). `summarize` reads that file back as
the frames with the most samples, inclusive and where the thread was (self). Needs the
right to read the process's memory (root, or ptrace allowed); benchmarks only.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


@contextlib.contextmanager
def record(pid: int, out: Path | None, *, rate: int = 100) -> Iterator[None]:
    """Sample `pid` while the block runs (nothing when `out` is None)."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(PY_SPY), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
        "--idle", "--threads", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    with out.with_suffix(".log").open("wb") as log:
        for _ in range(20):  # a process just spawned has no interpreter to find yet
            spy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                spy.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                break
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=120)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


WAITS = ("readinto (socket", "Condition.wait (threading", "select (selectors", "do_poll (")
"""Leaf frames of a thread that waits (for a socket, a lock, a timer): left out of `busy`.
A thread waiting for PostgreSQL's answer (psycopg's `Connection.wait`) stays in: that is
time the loop spends on its statements."""


def summarize(path: Path, *, top: int = 15, thread: str | None = None, busy: bool = True) -> str:
    """The `top` frames by inclusive and by self samples (of one thread when given); with
    `busy`, samples of waiting threads left out (the waits are counted apart)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = waiting = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if thread is not None and thread not in frames[0]:
            continue
        count = int(count_text)
        if busy and any(w in frames[-1] for w in WAITS):
            waiting += count
            continue
        total += count
        threads[frames[0]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [
        f"{path.name}: {total} busy samples, {waiting} waiting" + (f" ({thread})" if thread else "")
    ]
    lines.append("  busy by thread: " + ", ".join(f"{t} {n}" for t, n in threads.most_common(6)))
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"  top {top} {title}:")
        for frame, count in counter.most_common(top):
            lines.append(f"    {100 * count / max(1, total):5.1f}%  {frame}")
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(summarize(Path(name)))
