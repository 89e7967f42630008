"""How results are printed: an aligned table for people, `-o json` / `-o yaml` for scripts.

Tables are rendered by rich without borders (like kubectl's), and without colour or
wrapping when stdout is not a terminal so that `grep`, `awk` and `cut` see whole lines.
rich and PyYAML are imported only by the format that needs them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

FORMATS = ("table", "json", "yaml")
Column = tuple[str, Callable[[dict[str, Any]], object]]


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def dump(value: Any, output: str) -> None:
    """A JSON value as JSON or YAML on stdout."""
    if output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _console() -> Any:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, color_system=None, width=100_000, soft_wrap=True)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> None:
    from rich import box
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    for header, _ in columns:
        grid.add_column(header, no_wrap=True)
    for row in rows:
        grid.add_row(*(_text(cell(row)) for _, cell in columns))
    _console().print(grid)


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """One object as aligned `name: value` lines."""
    width = max(len(name) for name, _ in pairs) + 1
    for name, value in pairs:
        sys.stdout.write(f"{name + ':':<{width}} {_text(value)}\n")


def show(
    value: Any,
    output: str,
    *,
    rows: Iterable[dict[str, Any]] | None = None,
    columns: Sequence[Column] = (),
    render: Callable[[Any], None] | None = None,
) -> None:
    """`value` as JSON/YAML, or for a table: `rows` under `columns`, or `render(value)`."""
    if output != "table":
        dump(value, output)
    elif render is not None:
        render(value)
    else:
        table(rows if rows is not None else value, columns)
