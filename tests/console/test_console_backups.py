"""A database's backups in the console, in a real browser against the real control plane
with a BackupStorage (the worker and status-sync as processes, KubeStash simulated): the
list on the database page and "Back up now", confirmed, followed to its end."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.console.conftest import Console
from tests.e2e.control_plane import Plane, control_plane
from tests.fixtures_sim import SimCluster

OpenConsole = Callable[[str], Console]


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path, backups=True) as running:
        yield running


@pytest.mark.timeout(300)
def test_an_operator_backs_a_database_up_now_and_sees_it_in_the_list(
    plane: Plane, sim: SimCluster, console_page: OpenConsole
) -> None:
    policy = {"schedule": "@daily", "retention": {"keep_last": 7}, "pitr": True}
    database_id = plane.create("ledger", replicas=1, backup=policy)["id"]
    plane.converged(database_id)
    console = console_page(plane.api.url)
    page = console.page
    console.sign_in(plane.key)
    page.get_by_role("link", name="ledger").click()
    section = page.get_by_role("region", name="Backups")
    expect(section.locator(".policy")).to_contain_text(
        "@daily · keep last 7 · max age 30d · point-in-time recovery"
    )
    # The archive KubeDB keeps for point-in-time recovery shows its window once recorded.
    expect(section.locator(".policy")).to_contain_text("Restorable")
    expect(section.locator(".policy time")).to_have_count(2)

    # A cancelled confirmation takes no backup.
    section.get_by_role("button", name="Back up now").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Back up now?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    # (The policy's schedule may have made `schedule` backups already: count manual ones.)
    before = plane.get(f"/v1/backups?database_id={database_id}&origin=manual")
    assert before is not None and before["items"] == []

    section.get_by_role("button", name="Back up now").click()
    dialog.get_by_role("button", name="Back up now").click()
    expect(dialog).to_be_hidden()
    expect(section.get_by_role("status")).to_contain_text("Backup queued")
    rows = section.locator("tbody tr").filter(
        has=page.locator("td[data-label=Origin]", has_text=re.compile("^manual$"))
    )
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge")).to_have_text("succeeded")
    listed = plane.get(f"/v1/backups?database_id={database_id}&origin=manual")
    assert listed is not None
    (backup,) = listed["items"]
    assert backup["state"] == "succeeded" and backup["origin"] == "manual"
    expect(rows.first).to_have_attribute("data-id", backup["id"])
    expect(rows.first.locator("td[data-label=Origin]")).to_have_text("manual")
    expect(rows.first.locator("td[data-label=Size]")).to_have_text(
        re.compile(r"^\d+(\.\d)? \w?i?B$")
    )
    expect(rows.first.locator("td[data-label=Completed] time")).to_have_count(1)
    expect(page.locator(".timeline li[data-type=backup] .badge").first).to_have_text("succeeded")
    console.assert_controls_are_labelled()
    console.shoot("database-backups")

    # Restore that backup into a new database, and follow it there until it is ready.
    restore = section.get_by_role("form", name="Restore into a new database")
    restore.get_by_label("New database name").fill("ledger-copy")
    expect(restore.get_by_label("Point in time (your local time)")).to_be_hidden()
    restore.get_by_label("From").select_option(backup["id"])
    console.shoot("database-restore")
    restore.get_by_role("button", name="Restore").click()
    expect(dialog).to_contain_text("Restore into ledger-copy?")
    dialog.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("heading", name="ledger-copy")).to_be_visible()
    copy_id = page.url.rsplit("/", 1)[-1]
    plane.converged(copy_id, timeout=90)
    expect(page.locator(".timeline li[data-type=restore] .badge").first).to_have_text(
        "succeeded", timeout=30_000
    )
    (restored,) = plane.get(f"/v1/databases/{copy_id}/operations")["items"]  # type: ignore[index]
    assert restored["type"] == "restore" and restored["state"] == "succeeded"
    page.go_back()
    section = page.get_by_role("region", name="Backups")

    # A backup KubeStash fails shows as failed with the API's reason.
    reason = "restic: repository is locked"
    sim.set_faults(kubestash={"backups": [{"mode": "fail", "reason": reason, "count": 9}]})
    section.get_by_role("button", name="Back up now").click()
    dialog.get_by_role("button", name="Back up now").click()
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".badge")).to_have_text("failed")
    failed = plane.get(f"/v1/backups?database_id={database_id}&origin=manual&state=failed")
    assert failed is not None and len(failed["items"]) == 1
    # KubeStash's reason as the API recorded it (status-sync may record only "BackupSession
    # Failed" when the session's Failed arrives before its Snapshot: a server race).
    expect(rows.first.locator("td[data-label=Error]")).to_have_text(failed["items"][0]["error"])
    assert console.errors == []
