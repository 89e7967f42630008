"""Reading supervisord.conf the way supervisord does, for tests that check its contract.

Interpolation is off: `%(ENV_DBAAS_HOME)s` stays as written, which is what the assertions
are about. The stop budget is computed here once, so the supervisord tests and the
manifest tests hold the same number against terminationGracePeriodSeconds; so is the
FATAL path, which the fault tests' outages must outlast.
"""

from __future__ import annotations

import configparser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO_ROOT / "supervisord.conf"
PROGRAMS = ("api", "worker", "status-sync", "drift")
# the in-process FATAL handler (services/supervision/fatal.py), not a process
FATAL_RPCINTERFACE = "rpcinterface:dbaas"
SUPERVISOR_DEFAULT_STOPWAITSECS = 10
# supervisord moves from one stopped group to the next at most once per poll (1 s)
SECONDS_PER_STOP_STEP = 1


def load(path: Path = CONFIG_PATH) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",), strict=True)
    with path.open(encoding="utf-8") as handle:
        parser.read_file(handle)
    return parser


def process_sections(parser: configparser.RawConfigParser) -> dict[str, configparser.SectionProxy]:
    """[program:x] sections, keyed by x: every process supervisord starts and stops."""
    sections = {}
    for name in parser.sections():
        kind, _, process = name.partition(":")
        if kind == "program":
            sections[process] = parser[name]
    return sections


def process_names(program: str, count: int = 1) -> list[str]:
    """The names supervisord gives `program`'s processes: the program's own name, or, for
    a program with `process_name` (numprocs), e.g. `worker-0` ... `worker-<count-1>`."""
    pattern = process_sections(load())[program].get("process_name")
    if pattern is None:
        return [program]
    return [pattern % {"process_num": n, "program_name": program} for n in range(count)]


def namespecs(program: str, count: int = 1) -> list[str]:
    """How supervisorctl and `states.program_states` name them: `api`, `worker:worker-0`."""
    names = process_names(program, count)
    return [name if name == program else f"{program}:{name}" for name in names]


def program_of(process: str) -> str:
    """The program a process name belongs to (`worker-1` -> `worker`)."""
    for program in PROGRAMS:
        pattern = process_sections(load())[program].get("process_name")
        prefix = pattern.split("%", 1)[0] if pattern else None
        if process == program or (prefix and process.startswith(prefix)):
            return program
    raise KeyError(process)


def stop_budget_seconds(parser: configparser.RawConfigParser | None = None) -> int:
    """Worst-case time for supervisord to stop everything: the stops are sequential."""
    sections = process_sections(parser or load())
    waits = sum(
        int(section.get("stopwaitsecs", str(SUPERVISOR_DEFAULT_STOPWAITSECS)))
        for section in sections.values()
    )
    return waits + SECONDS_PER_STOP_STEP * len(sections)


def fatal_path_seconds(parser: configparser.RawConfigParser | None = None) -> int:
    """Longest time supervisord takes to declare a program FATAL that keeps exiting within
    startsecs: 1 + startretries attempts of up to startsecs each, and between them the
    BACKOFF waits of 1, 2, ... startretries seconds."""
    sections = process_sections(parser or load())
    longest = 0
    for name in PROGRAMS:
        startsecs = int(sections[name]["startsecs"])
        retries = int(sections[name]["startretries"])
        longest = max(longest, (1 + retries) * startsecs + retries * (retries + 1) // 2)
    return longest


def stop_order(parser: configparser.RawConfigParser | None = None) -> list[str]:
    """Process names in the order supervisord stops them: highest priority number first."""
    sections = process_sections(parser or load())

    def priority(name: str) -> int:
        return int(sections[name].get("priority", "999"))

    return sorted(sections, key=lambda name: (-priority(name), name))
