"""What a key's role lets it see in the console, and the API's own messages in the forms
(the API over the simulated cluster; no worker is needed to refuse or to read)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.api_harness import (
    LiveApi,
    create,
)
from tests.console.conftest import Console

OpenConsole = Callable[[str], Console]
MUTATING = (
    "New database",
    "Scale",
    "Resize",
    "Expand storage",
    "Upgrade",
    "Restart",
    "Delete",
    "Back up now",
)


def test_a_viewer_sees_no_mutating_controls(api: LiveApi, console_page: OpenConsole) -> None:
    with api.client(api.key(role="admin")) as client:
        database = create(client, "orders")
        backup = client.post(f"/v1/databases/{database['id']}/backups")  # no worker: pending
        assert backup.status_code == 202, backup.text
    console = console_page(api.url)
    page = console.page
    console.sign_in(api.key(role="viewer"))
    expect(page.get_by_text("project alpha · viewer")).to_be_visible()
    expect(page.get_by_role("link", name="orders")).to_be_visible()
    assert page.get_by_role("link", name="New database").count() == 0

    page.get_by_role("link", name="orders").click()
    expect(page.get_by_role("heading", name="orders", level=1)).to_be_visible()
    expect(page.locator(".timeline li[data-type=create]")).to_be_visible()
    # The backups are listed for a viewer too; only "Back up now" is not there.
    row = page.get_by_role("region", name="Backups").locator(f"tr[data-id='{backup.json()['id']}']")
    expect(row.locator(".badge")).to_have_text("pending")
    expect(row.locator("td[data-label=Origin]")).to_have_text("manual")
    for name in MUTATING:
        assert page.get_by_role("button", name=name, exact=True).count() == 0, name
    assert page.locator("main button, main form, main input, main select").count() == 0
    assert page.get_by_role("region", name="Credentials").count() == 0
    console.shoot("database-viewer")

    page.goto(f"{api.url}/ui/#/databases/new")
    expect(page.get_by_text("This key is a viewer")).to_be_visible()
    assert page.locator("main form").count() == 0
    assert database["id"]
    assert console.errors == []


def test_a_create_with_bad_input_shows_the_apis_messages_next_to_the_fields(
    api: LiveApi, console_page: OpenConsole
) -> None:
    key = api.key(role="operator")
    bad = {"name": "Bad Name", "replicas": 0, "storage": "lots"}
    with api.client(key) as client:
        refused = client.post(
            "/v1/databases", json={"engine": "postgres", "version": "16.13"} | bad
        ).json()
    messages = {error["field"]: error["message"] for error in refused["errors"]}
    assert {"name", "replicas", "storage"} <= set(messages)

    console = console_page(api.url)
    page = console.page
    console.sign_in(key)
    page.get_by_role("link", name="New database").click()
    expect(page.get_by_label("Version")).not_to_be_empty()
    page.get_by_label("Name").fill(bad["name"])
    page.get_by_label("Engine").select_option("postgres")
    page.get_by_label("Version").select_option("16.13")
    page.get_by_label("Replicas").fill("0")
    page.get_by_label("Storage").fill("lots")
    page.get_by_role("button", name="Create database").click()

    expect(page.get_by_role("alert")).to_contain_text(refused["detail"])
    for field, input_id in (
        ("name", "new-name"),
        ("replicas", "new-replicas"),
        ("storage", "new-storage"),
    ):
        expect(page.locator(f"#{input_id}-error")).to_have_text(messages[field])
        expect(page.locator(f"#{input_id}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-name")).to_be_focused()
    console.shoot("create-refused")
    with api.client(key) as client:
        assert client.get("/v1/databases").json()["items"] == []
    assert console.errors == []


def test_an_unknown_key_is_refused_with_the_apis_problem(
    api: LiveApi, console_page: OpenConsole
) -> None:
    console = console_page(api.url)
    page = console.page
    console.open()
    page.get_by_label("API key").fill("dbaas_000000000000_nope")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("the API key is unknown or revoked")
    expect(page.get_by_label("API key")).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_key_lives_in_session_storage_only_and_sign_out_forgets_it(
    api: LiveApi, console_page: OpenConsole
) -> None:
    key = api.key(role="operator")
    console = console_page(api.url)
    page = console.page
    console.sign_in(key)
    assert page.evaluate("sessionStorage.getItem('dbaas.key')") == key
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_keyboard_alone_signs_in_and_opens_the_create_form(
    api: LiveApi, console_page: OpenConsole
) -> None:
    console = console_page(api.url)
    page = console.page
    console.open()
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(api.key(role="operator"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Databases", level=1)).to_be_visible()
    for _ in range(10):  # Tab until the "New database" link has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "New database":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New database")).to_be_visible()
    expect(page.get_by_label("Engine")).not_to_be_empty()


def test_a_key_revoked_while_signed_in_returns_to_sign_in_with_the_apis_problem(
    api: LiveApi, console_page: OpenConsole
) -> None:
    key = api.key(role="operator")
    console = console_page(api.url)
    page = console.page
    console.sign_in(key)
    api.revoke(key)  # the fixture's API caches no key: the next poll is refused
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("the API key is unknown or revoked")
    assert page.evaluate("sessionStorage.length") == 0


def test_a_pending_operation_is_cancelled_from_the_timeline_after_confirmation(
    api: LiveApi, console_page: OpenConsole
) -> None:
    key = api.key(role="operator")
    with api.client(key) as client:
        database = create(client, "orders")  # no worker here: its operations stay pending
        queued = client.patch(f"/v1/databases/{database['id']}", json={"replicas": 3})
        assert queued.status_code == 202, queued.text
    console = console_page(api.url)
    page = console.page
    console.sign_in(key)
    page.get_by_role("link", name="orders").click()
    scale = page.locator(".timeline li[data-type=scale]")
    expect(scale.locator(".badge")).to_have_text("pending")
    scale.get_by_role("button", name="Cancel scale").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel the scale?")
    dialog.get_by_role("button", name="Cancel scale").click()
    expect(scale.locator(".badge")).to_have_text("cancelled")
    expect(scale.get_by_role("button")).to_have_count(0)
    with api.client(key) as client:
        after = client.get(f"/v1/databases/{database['id']}").json()
    assert after["replicas"] == 1  # the cancelled change rolled back
    assert console.errors == []
