"""Which machine PostgreSQL `make run` picks among Debian's installed majors."""

from __future__ import annotations

from pathlib import Path

from services.devservers import _major_version


def test_debian_majors_sort_by_number_not_by_text() -> None:
    installed = [Path(f"/usr/lib/postgresql/{v}/bin") for v in ("9.6", "15", "10", "16")]
    newest_first = sorted(installed, key=_major_version, reverse=True)
    assert [p.parent.name for p in newest_first] == ["16", "15", "10", "9.6"]
