"""Adding, testing before saving, saving, breaking and fixing destinations in the admin, in headless Chromium.

For a webhook (against the webhook receiver) and a Snowflake warehouse (against the Snowflake emulator) the
operator chooses the type first, fills the form generated from the type's JSON Schema (no JSON typed),
tests before saving (the steps stream in), saves once, breaks the config and fixes it again.
Screenshots are kept under artifacts/.
"""

from __future__ import annotations

import time

import pytest

from destinations.models import Destination, DestinationStatus, TestRun
from tests.browser.conftest import (
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    PASSWORD,
    USERNAME,
    AdminLiveServer,
    slow_webhook_receiver,
)
from tests.emulators.snowflake import SnowflakeEmulator, generate_private_key, private_key_pem
from tests.factories import WorkspaceFactory

API_KEY = "k-browser-7731"
DELIVERY_DELAY = 2.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]


class Admin:
    """The few gestures an operator makes, as Selenium calls."""

    def __init__(self, driver, base_url: str):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base_url = base_url
        # the page re-renders the result as events arrive: an element found a moment ago may be replaced
        self.wait = WebDriverWait(driver, 25, ignored_exceptions=(StaleElementReferenceException,))

    def by(self, how: str, what: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(getattr(By, how), what)

    def css(self, selector: str):
        return self.by("CSS_SELECTOR", selector)

    def shot(self, name: str) -> None:
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1366, min(max(height, 900), 4000))
        self.driver.save_screenshot(str(ARTIFACTS / name))
        self.driver.set_window_size(1366, 900)

    def login(self) -> None:
        self.driver.get(f"{self.base_url}/admin/login/?next=/admin/")
        self.by("NAME", "username").send_keys(USERNAME)
        self.by("NAME", "password").send_keys(PASSWORD)
        self.css("input[type=submit]").click()
        self.wait.until(lambda d: d.find_elements("id", "destinations-summary"))

    def field(self, name: str):
        """An input of the generated config form (django-jsonform names them rjf§<key>)."""
        return self.wait.until(lambda d: d.find_element("name", f"rjf§{name}"))

    def type_into(self, name: str, text: str) -> None:
        element = self.field(name)
        element.clear()
        element.send_keys(text)

    def select(self, element, visible_text: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(element).select_by_visible_text(visible_text)

    def add_header(self, name: str, value: str) -> None:
        self.css("button.rjf-add-button").click()  # the editor asks the key's name inline (key_input.js)
        self.wait.until(lambda d: d.find_element("css selector", ".key-input input")).send_keys(name)
        self.css(".key-input-ok").click()
        self.type_into(f"headers§{name}", value)

    def test_before_saving(self) -> dict:
        """Click Test before saving; the steps' arrival times, and the final state."""
        started = time.monotonic()
        self.css("#test-draft").click()
        seen: dict[str, float] = {}
        deadline = started + 25
        while time.monotonic() < deadline:
            state = self.css("#draft-result").get_attribute("data-state")
            for item in self.driver.find_elements("css selector", "#draft-steps li"):
                seen.setdefault(item.get_attribute("data-step"), time.monotonic() - started)
            if state in ("passed", "failed", "invalid"):
                break
            time.sleep(0.05)
        statuses = {
            li.get_attribute("data-step"): li.get_attribute("data-status")
            for li in self.driver.find_elements("css selector", "#draft-steps li")
        }
        return {"state": state, "arrived": seen, "statuses": statuses, "text": self.css("#draft-test").text}

    def save_and_continue(self) -> None:
        """Save, and wait for the page the save answers with: the old page's message list would also match."""
        from selenium.webdriver.support import expected_conditions

        old_page = self.css("html")
        self.css("input[name=_continue]").click()
        self.wait.until(expected_conditions.staleness_of(old_page))
        self.wait.until(lambda d: d.find_elements("css selector", "ul.messagelist, .errornote"))

    def run_test_connection(self) -> str:
        self.css("#test-connection").click()

        def finished_state(driver):
            state = driver.find_element("id", "test-result").get_attribute("data-state")
            return state if state != "running" else None

        return self.wait.until(finished_state)


def start_adding(admin: Admin, type_key: str, *, workspace, name: str, shot: str | None = None) -> None:
    admin.driver.get(f"{admin.base_url}/admin/destinations/destination/")
    admin.by("LINK_TEXT", "ADD DESTINATION").click()
    admin.wait.until(lambda d: d.find_elements("id", "type-choices"))
    if shot:
        admin.shot(shot)
    admin.css(f"#choose-{type_key}").click()
    admin.wait.until(lambda d: d.find_elements("id", "chosen-type"))
    admin.select(admin.by("NAME", "workspace"), f"{workspace.name} ({str(workspace.pk)[:4]}…)")
    admin.by("NAME", "name").send_keys(name)


def assert_no_json_textarea(admin: Admin) -> None:
    """The config is a form: the editor's JSON data field is hidden, any visible textarea is one config field."""
    names = [
        t.get_attribute("name") for t in admin.driver.find_elements("css selector", "textarea") if t.is_displayed()
    ]
    assert all(name.startswith("rjf§") for name in names), names


@pytest.fixture
def slow_receiver():
    with slow_webhook_receiver(api_key=API_KEY, delay=DELIVERY_DELAY) as receiver:
        yield receiver


def test_webhook_add_test_save_break_fix(browser, slow_receiver, django_user_model):
    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)
    workspace = WorkspaceFactory(name="Acme")
    WorkspaceFactory(name="Acme")  # a namesake: the form tells them apart

    with AdminLiveServer() as server:
        admin = Admin(browser, server.url)
        admin.login()
        start_adding(admin, "webhook", workspace=workspace, name="Orders webhook", shot="admin-add-choose-type.png")
        admin.type_into("url", f"{slow_receiver.url}/hooks/orders")
        admin.add_header("X-API-Key", API_KEY)
        assert admin.field("headers§X-API-Key").get_attribute("type") == "password"
        assert_no_json_textarea(admin)

        result = admin.test_before_saving()
        assert result["state"] == "passed", result
        assert result["statuses"] == {"connectivity": "passed", "delivery": "passed"}
        # streamed: the connectivity step was on the page while the slow delivery still ran
        assert result["arrived"]["delivery"] - result["arrived"]["connectivity"] > DELIVERY_DELAY - 1.0, result
        admin.shot("admin-webhook-add-tested.png")
        assert not Destination.objects.exists()  # nothing saved by the test
        assert API_KEY not in browser.page_source.replace(f'value="{API_KEY}"', "")

        admin.save_and_continue()
        destination = Destination.objects.get()
        assert destination.workspace == workspace and destination.secrets == {"headers": {"X-API-Key": API_KEY}}
        assert API_KEY not in browser.page_source
        admin.shot("admin-webhook-saved.png")

        # break it: a wrong key, saved; the live test fails and the page says what to do
        admin.type_into("headers§X-API-Key", "wrong-key")
        admin.save_and_continue()
        assert admin.run_test_connection() == "failed"
        browser.get(f"{server.url}/admin/destinations/destination/{destination.pk}/change/")
        remediation = admin.wait.until(lambda d: d.find_element("id", "remediation"))
        assert remediation.text.startswith("What to do:")
        admin.shot("admin-webhook-broken.png")

        # the dashboard lists it under its workspace and type, with its failing step, and among the newest failures
        browser.get(f"{server.url}/admin/destinations/destination/dashboard/")
        group = admin.css("#failure-groups tr.failure-group")
        assert group.get_attribute("data-type") == "webhook" and "Orders webhook delivery" in group.text
        assert "Orders webhook" in admin.css("#newest-failures tr.failure").text
        admin.shot("admin-webhook-failures-dashboard.png")
        browser.get(f"{server.url}/admin/")
        assert admin.css('#destinations-summary a[data-status="error"]').text == "1"
        admin.shot("admin-index-summary.png")

        # fix it: the right key, tested before saving, saved, tested live
        browser.get(f"{server.url}/admin/destinations/destination/{destination.pk}/change/")
        admin.type_into("headers§X-API-Key", API_KEY)
        assert admin.test_before_saving()["state"] == "passed"
        destination.refresh_from_db()
        assert destination.status == DestinationStatus.ERROR  # the test before saving changed nothing
        admin.save_and_continue()
        assert admin.run_test_connection() == "passed"
        admin.shot("admin-webhook-fixed.png")

    destination.refresh_from_db()
    assert destination.status == DestinationStatus.CONNECTED
    assert destination.secrets == {"headers": {"X-API-Key": API_KEY}}
    assert TestRun.objects.filter(destination__isnull=True).count() == 2  # the two tests before saving


@pytest.fixture
def snowflake(settings):
    with SnowflakeEmulator() as emulator:
        settings.CONNECTOR_BASE_URLS = {"snowflake": emulator.url}
        yield emulator


def test_snowflake_add_test_save_break_fix(browser, snowflake, django_user_model):
    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)
    workspace = WorkspaceFactory(name="Analytics")
    key = generate_private_key()
    snowflake.register_key("loader", key.public_key(), roles=("LOADER_ROLE",), default_role="LOADER_ROLE")
    pem = private_key_pem(key)

    with AdminLiveServer() as server:
        admin = Admin(browser, server.url)
        admin.login()
        start_adding(admin, "snowflake", workspace=workspace, name="Warehouse")
        for name, value in {
            "account": snowflake.account.lower(),
            "user": "loader",
            "role": "loader_role",
            "warehouse": "compute_wh",
            "database": "analytics",
            "schema": "public",
            "table": "customers",
        }.items():
            admin.type_into(name, value)
        key_input = admin.field("private_key")
        assert key_input.tag_name == "textarea"  # a PEM key keeps its line breaks
        browser.execute_script(
            "const el = arguments[0]; const setter = Object.getOwnPropertyDescriptor("
            "HTMLTextAreaElement.prototype, 'value').set; setter.call(el, arguments[1]);"
            "el.dispatchEvent(new Event('input', {bubbles: true}));",
            key_input,
            pem,
        )  # pasted, as an operator would (typing 1700 characters key by key is slow)
        assert admin.field("private_key_passphrase").get_attribute("type") == "password"

        result = admin.test_before_saving()
        assert result["state"] == "passed", result
        assert list(result["statuses"]) == ["connectivity", "authentication", "target", "write_permission"]
        admin.shot("admin-snowflake-add-tested.png")
        assert not Destination.objects.exists()

        admin.save_and_continue()
        destination = Destination.objects.get()
        assert destination.secrets == {"private_key": pem}
        assert "PRIVATE KEY" not in browser.page_source
        admin.shot("admin-snowflake-saved.png")

        # break it: a table that does not exist; the test before saving says so, with the stored key
        admin.type_into("table", "no_such_table")
        broken = admin.test_before_saving()
        assert broken["state"] == "failed" and broken["statuses"]["target"] == "failed", broken
        admin.shot("admin-snowflake-broken-draft.png")
        admin.save_and_continue()
        assert admin.run_test_connection() == "failed"
        browser.get(f"{server.url}/admin/destinations/destination/{destination.pk}/change/")
        assert admin.wait.until(lambda d: d.find_element("id", "remediation")).text
        admin.shot("admin-snowflake-broken.png")

        # fix it (the stored private key is kept: its field stays blank)
        admin.type_into("table", "customers")
        assert admin.test_before_saving()["state"] == "passed"
        admin.save_and_continue()
        assert admin.run_test_connection() == "passed"
        admin.shot("admin-snowflake-fixed.png")

    destination.refresh_from_db()
    assert destination.status == DestinationStatus.CONNECTED and destination.secrets == {"private_key": pem}
    assert destination.config["table"] == "customers"
