"""DBAAS_DELETED_BACKUP_RETENTION: how long a deleted database's backups are kept."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError


def test_unset_keeps_the_backups() -> None:
    assert Settings.from_env({}).deleted_backup_retention_seconds is None


@pytest.mark.parametrize(("raw", "hours"), [("90d", 90 * 24), ("12h", 12), ("1y", 365 * 24)])
def test_a_duration_is_read_in_the_units_of_a_retention(raw: str, hours: int) -> None:
    settings = Settings.from_env({"DBAAS_DELETED_BACKUP_RETENTION": raw})
    assert settings.deleted_backup_retention_seconds == hours * 3600


@pytest.mark.parametrize("raw", ["soon", "30", "-1d", "1 day"])
def test_a_malformed_duration_stops_the_program_with_its_name(raw: str) -> None:
    with pytest.raises(SettingsError, match="DBAAS_DELETED_BACKUP_RETENTION"):
        Settings.from_env({"DBAAS_DELETED_BACKUP_RETENTION": raw})
