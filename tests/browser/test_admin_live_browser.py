"""The admin's live parts in headless Chromium, under the Content-Security-Policy the server sends.

The bulk-test progress page updates as results arrive; the notification secret's "Rotate: show a new one"
shows a new secret; a webhook header is named inline, not in a native prompt(); the icon is served.
"""

from __future__ import annotations

import pytest

from destinations.models import Destination, DestinationStatus, WorkspaceMonitoring
from destinations.services.notifications import workspace_monitoring_update
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, PASSWORD, USERNAME, AdminLiveServer
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory, WorkspaceFactory
from tests.hooks import hold_delivery

API_KEY = "k-live-5120"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]


def login(browser, server, next_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server.url}/admin/login/?next={next_url}")
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def csp_violations(browser) -> list[str]:
    """What the browser refused to run, as its console reports it."""
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)


def test_the_bulk_test_progress_page_updates_live(browser, admin_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as receiver, AdminLiveServer() as server:
        release = hold_delivery(receiver)
        workspace = WorkspaceFactory(name="Acme")
        for name in ("Orders hook", "Leads hook"):
            DestinationFactory(
                workspace=workspace,
                name=name,
                config={"url": f"{receiver.url}/hooks/in"},
                secrets={"headers": {"X-API-Key": API_KEY}},
            )
        login(browser, server, "/admin/destinations/destination/")
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "changelist"))
        browser.find_element(By.ID, "action-toggle").click()
        browser.find_element(By.CSS_SELECTOR, "select[name=action] option[value=test_selected]").click()
        browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
        section = WebDriverWait(browser, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "section.job"))
        assert section.get_attribute("data-state") != "done"  # the deliveries are held: nothing finished yet

        release.set()  # the page hears each result over SSE, without a reload
        WebDriverWait(browser, 30).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "section.job").get_attribute("data-state") == "done"
        )
        assert browser.find_element(By.CSS_SELECTOR, ".count-passed").text == "2"
        assert browser.find_element(By.CSS_SELECTOR, ".job-state").text == "Finished."
        rows = browser.find_elements(By.CSS_SELECTOR, "tbody.results tr")
        assert sorted(r.find_element(By.TAG_NAME, "td").text for r in rows) == ["Leads hook", "Orders hook"]
        assert csp_violations(browser) == []
    assert set(Destination.objects.values_list("status", flat=True)) == {DestinationStatus.CONNECTED}


def test_rotate_shows_a_new_signing_secret(browser, admin_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    workspace = WorkspaceFactory(name="Acme")
    monitoring, first_secret = workspace_monitoring_update(
        workspace=workspace, check_interval_minutes=None, notification_url="https://hooks.example.com/notify"
    )
    assert first_secret
    with AdminLiveServer() as server:
        login(browser, server, f"/admin/destinations/workspacemonitoring/{monitoring.pk}/change/")
        button = WebDriverWait(browser, 20).until(
            lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Rotate: show a new one']")
        )
        button.click()
        shown = WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "signing-secret"))
        new_secret = shown.get_attribute("value")
    assert new_secret and new_secret != first_secret
    assert WorkspaceMonitoring.objects.get(pk=monitoring.pk).signing_secret["secret"] == new_secret


def test_a_webhook_header_is_named_inline_and_the_page_has_an_icon(browser, admin_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with AdminLiveServer() as server:
        login(browser, server, "/admin/destinations/destination/add/?destination_type=webhook")
        wait = WebDriverWait(browser, 20)
        add = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "button.rjf-add-button"))
        add.click()
        name = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".key-input input"))  # no native prompt
        name.send_keys("X-API-Key")
        browser.find_element(By.CSS_SELECTOR, ".key-input-ok").click()
        value = wait.until(lambda d: d.find_element(By.NAME, "rjf§headers§X-API-Key"))
        assert value.get_attribute("type") == "password" and not browser.find_elements(By.CSS_SELECTOR, ".key-input")

        add.click()  # the same name again: the editor's complaint shows inline, not in an alert()
        browser.find_element(By.CSS_SELECTOR, ".key-input input").send_keys("X-API-Key")
        browser.find_element(By.CSS_SELECTOR, ".key-input-ok").click()
        assert "Duplicate keys not allowed" in browser.find_element(By.CSS_SELECTOR, ".key-input-error").text

        help_texts = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".rjf-help-text"))
        assert "whsec_" in help_texts and "`" not in help_texts
        icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
        assert browser.execute_script("return fetch(arguments[0]).then(r => r.status)", icon) == 200
        assert csp_violations(browser) == []
