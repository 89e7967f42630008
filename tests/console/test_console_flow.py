"""The web console in a real browser against the real control plane: the API, the RQ
worker, status-sync and drift as processes over the simulated cluster (tests/e2e)."""

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
    with control_plane(database_url, redis_url, sim, tmp_path) as running:
        yield running


@pytest.mark.timeout(600)
def test_an_operator_creates_scales_reveals_and_deletes_a_database(
    plane: Plane, console_page: OpenConsole
) -> None:
    console = console_page(plane.api.url)
    page = console.page
    console.open()
    expect(page).to_have_url(re.compile(r"/ui/#?/?"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    console.shoot("sign-in")

    console.sign_in(plane.key)
    expect(page.get_by_text("project acme · admin")).to_be_visible()
    expect(page.get_by_text("No databases yet.")).to_be_visible()

    page.get_by_role("link", name="New database").click()
    expect(page.get_by_label("Version")).not_to_be_empty()
    page.get_by_label("Name").fill("orders")
    page.get_by_label("Engine").select_option("postgres")
    page.get_by_label("Version").select_option("16.13")
    page.get_by_label("Replicas").fill("1")
    page.get_by_label("Storage").fill("10Gi")
    console.assert_controls_are_labelled()
    console.shoot("create")
    page.get_by_role("button", name="Create database").click()

    expect(page.get_by_role("heading", name="orders", level=1)).to_be_visible()
    status = page.get_by_role("region", name="Status")
    expect(status.locator(".badge")).to_have_text("ready")
    expect(status).to_contain_text("Ready")
    (database,) = [db for db in plane.get("/v1/databases")["items"] if db["name"] == "orders"]
    database_id = database["id"]
    expect(page).to_have_url(re.compile(f"#/databases/{database_id}$"))

    page.get_by_role("link", name="← Databases").click()
    row = page.get_by_role("row").filter(has_text="orders")
    expect(row.locator(".badge")).to_have_text("ready")
    console.shoot("databases")
    row.get_by_role("link", name="orders").click()
    expect(page.get_by_role("heading", name="orders", level=1)).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Replicas")).to_have_value("1")
    console.assert_controls_are_labelled()

    # Scale, confirmed in the dialog; the operation appears in the timeline and succeeds.
    page.get_by_role("spinbutton", name="Replicas").fill("3")
    page.get_by_role("form", name="Scale").get_by_role("button", name="Scale").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Scale orders to 3 replicas?")
    console.shoot("confirm-scale")
    dialog.get_by_role("button", name="Scale").click()
    expect(dialog).to_be_hidden()
    scale = page.locator(".timeline li[data-type=scale]")
    expect(scale.locator(".badge")).to_have_text("succeeded")
    spec = page.get_by_role("region", name="Desired and observed")
    expect(spec.get_by_role("row", name=re.compile("^Replicas"))).to_have_text(
        re.compile(r"Replicas\s*3\s*3")
    )
    (scale_op,) = [op for op in plane.operations(database_id) if op["type"] == "scale"]
    assert scale_op["state"] == "succeeded"
    assert plane.database(database_id)["status"]["observed"]["replicas"] == 3

    # A cancelled confirmation changes nothing.
    page.get_by_role("button", name="Restart").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert [op["type"] for op in plane.operations(database_id)] == ["create", "scale"]

    # Credentials, on demand; the API audits the read and the events show it.
    credentials = page.get_by_role("region", name="Credentials")
    expect(credentials.locator(".secret")).to_have_count(0)
    credentials.get_by_role("button", name="Reveal credentials").click()
    expect(credentials).to_contain_text("Password")
    with plane.client() as client:
        secret = client.get(f"/v1/databases/{database_id}/credentials").json()
    expect(credentials.locator(".secret").first).to_have_text(secret["password"])
    expect(page.get_by_role("region", name="Events")).to_contain_text("credentials of orders read")
    console.shoot("database")
    credentials.get_by_role("button", name="Hide credentials").click()
    expect(credentials.locator(".secret")).to_have_count(0)

    # Delete, confirmed; the page says so once KubeDB has removed it.
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="orders was deleted.")).to_be_visible()
    assert plane.get(f"/v1/databases/{database_id}") is None
    page.get_by_role("link", name="← Databases").click()
    expect(page.get_by_text("No databases yet.")).to_be_visible()
    assert console.errors == []


@pytest.mark.timeout(600)
def test_every_change_is_confirmed_and_followed_in_the_timeline(
    plane: Plane, console_page: OpenConsole
) -> None:
    created = plane.create("ledger", replicas=1)
    database_id = created["id"]
    plane.converged(database_id)
    console = console_page(plane.api.url)
    page = console.page
    console.sign_in(plane.key)
    page.get_by_role("link", name="ledger").click()
    expect(page.get_by_role("textbox", name="Storage")).to_have_value("10Gi")
    timeline = page.locator(".timeline")
    dialog = page.get_by_role("dialog")

    def confirm(action: str, question: str) -> None:
        expect(dialog).to_contain_text(question)
        dialog.get_by_role("button", name=action).click()
        expect(dialog).to_be_hidden()

    def succeeded(kind: str) -> None:
        expect(timeline.locator(f"li[data-type={kind}] .badge").first).to_have_text("succeeded")

    page.get_by_role("textbox", name="CPU").fill("1")
    page.get_by_role("textbox", name="Memory").fill("2Gi")
    page.get_by_role("button", name="Resize").click()
    confirm("Resize", "Resize ledger to cpu 1, memory 2Gi?")
    succeeded("resize")

    page.get_by_role("textbox", name="Storage").fill("20Gi")
    page.get_by_role("button", name="Expand storage").click()
    confirm("Expand storage", "Expand the storage of ledger to 20Gi?")
    succeeded("expand")

    page.get_by_role("combobox", name="Version").select_option("16.13")
    page.get_by_role("button", name="Upgrade").click()
    confirm("Upgrade", "Upgrade ledger to version 16.13?")
    succeeded("upgrade")

    # Escape closes the dialog and does nothing; the keyboard reaches every control.
    page.get_by_role("button", name="Restart").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Restart").click()
    confirm("Restart", "Restart ledger?")
    succeeded("restart")

    # A change the API refuses: its message next to the field, nothing queued.
    with plane.client() as client:
        refused = client.patch(f"/v1/databases/{database_id}", json={"storage": "5Gi"}).json()
    (storage_error,) = [e["message"] for e in refused["errors"] if e["field"] == "storage"]
    page.get_by_role("textbox", name="Storage").fill("5Gi")
    page.get_by_role("button", name="Expand storage").click()
    confirm("Expand storage", "Expand the storage of ledger to 5Gi?")
    expect(page.locator("#expand-storage-error")).to_have_text(storage_error)
    expect(page.get_by_role("region", name="Actions").get_by_role("alert")).to_contain_text(
        refused["detail"]
    )
    console.shoot("database-refused-change")

    kinds = [op["type"] for op in plane.operations(database_id)]
    assert kinds == ["create", "resize", "expand", "upgrade", "restart"]
    observed = plane.converged(database_id)["status"]["observed"]
    assert (observed["cpu"], observed["memory"], observed["storage"]) == ("1", "2Gi", "20Gi")
    assert observed["version"] == "16.13"
    assert console.errors == []
