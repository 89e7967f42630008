"""The launcher: supervisord in this very process, with a non-zero exit on FATAL.

Running supervisord in-process (not as a child) keeps it PID 1 in the container, where it
reaps orphans and turns SIGTERM into ordered, graceful program stops; no tini or shell sits
in between to swallow signals. supervisord always exits 0, also when `fatal` (loaded into
it by supervisord.conf's [rpcinterface:dbaas]) shut it down because a program went FATAL,
so after it returns we read the marker `fatal` left and exit 1 when there is one.

    python -m services.supervision.supervise -c supervisord.conf

It must never start, stop or import the supervised programs itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from services.settings import Settings, SettingsError
from services.supervision import heartbeats, marker, migration

EXIT_PROGRAM_FATAL = 1
EXIT_BAD_SETTINGS = 2
USAGE = """\
usage: python -m services.supervision.supervise -c supervisord.conf [supervisord options]

Applies pending migrations first (DBAAS_MIGRATE_ON_START=false: not), then runs
supervisord (in this process) with the given options and the four dbaas programs of its
config; exits 1 when a program went FATAL, 2 on a malformed DBAAS_* setting.
supervisord's own options: supervisord -h (or python -E -m supervisor.supervisord -h)."""
# A literal, not this module's docstring: the image runs with PYTHONOPTIMIZE=2, which drops
# docstrings (and supervisord's own -h, which prints one, fails there).


def supervise(supervisord_args: list[str], *, home: Path, worker_processes: int = 1) -> int:
    """Run supervisord until it shuts down; EXIT_PROGRAM_FATAL if a program went FATAL."""
    home.mkdir(parents=True, exist_ok=True)
    marker.clear(home)  # left by a previous run in the same DBAAS_HOME
    # A previous run's beats (say of worker-3, when this run has two worker processes)
    # would show in /metrics as programs that stopped beating.
    heartbeats.clear(home)
    _put_own_bin_first_on_path()
    # supervisord.conf's `numprocs=%(ENV_DBAAS_WORKER_PROCESSES)s`: the validated setting,
    # written back so that an unset variable means 1 and supervisord never sees a bad one.
    os.environ["DBAAS_WORKER_PROCESSES"] = str(worker_processes)
    from supervisor import supervisord  # after keep_tls_out (see __main__)

    supervisord.main(supervisord_args)
    reason = marker.read(home)
    if reason is None:
        return 0
    print(f"supervise: exiting {EXIT_PROGRAM_FATAL}: {reason}", file=sys.stderr, flush=True)
    return EXIT_PROGRAM_FATAL


def _put_own_bin_first_on_path() -> None:
    # supervisord.conf runs `dbaas ...` and `python -m ...` through PATH. Putting this
    # interpreter's bin directory first makes them this installation's, whether or not the
    # caller activated the virtualenv (`make run` does not). PATH is not a dbaas setting,
    # so settings.py does not own it; the programs inherit it from this process.
    own_bin = str(Path(sys.executable).parent)
    entries = [own_bin, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p)]
    os.environ["PATH"] = os.pathsep.join(dict.fromkeys(entries))


def keep_tls_out() -> None:
    """Keep libssl and libcrypto out of this process, which lives as long as the pod.

    supervisord answers RPC on a unix socket and never speaks TLS, but http.client (imported
    through xmlrpc) imports ssl whenever it can, and with it OpenSSL: RSS in the image for
    nothing (bench/README.md). A None in sys.modules makes that import fail, which http.client
    takes as "no HTTPS". Only the launcher calls this, before supervisor is imported; the
    programs are fresh interpreters, and a process that has ssl already keeps it."""
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        print(USAGE)
        return 0
    try:
        config = Settings.from_env()
    except SettingsError as exc:
        # every program would fail on the same variable; say so once instead of four FATALs
        print(f"supervise: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_SETTINGS
    if migration.migrate_before_start(config) is migration.Outcome.STOPPED:
        return 0
    return supervise(args, home=config.home, worker_processes=config.worker_processes)


if __name__ == "__main__":
    keep_tls_out()
    sys.exit(main())
