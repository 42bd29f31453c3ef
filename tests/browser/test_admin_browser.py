"""The admin in a real browser: headless Chromium against uvicorn (ASGI, so the test steps stream live).

A staff user logs in, opens a webhook destination whose receiver answers the delivery slowly, clicks Test
connection and watches the steps arrive one at a time, then the status badge turn to Connected.
Screenshots of the destination list and the live test page are kept under artifacts/.
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
from tests.factories import DestinationFactory, WorkspaceFactory

DELIVERY_DELAY = 2.5
API_KEY = "k-123"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]


@pytest.fixture
def slow_receiver():
    with slow_webhook_receiver(api_key=API_KEY, delay=DELIVERY_DELAY) as receiver:
        yield receiver


def test_live_connection_test_in_the_admin(browser, slow_receiver, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)
    workspace = WorkspaceFactory(name="Acme")
    destination = DestinationFactory(
        workspace=workspace,
        name="Orders webhook",
        config={"url": f"{slow_receiver.url}/hooks/orders"},
        secrets={"headers": {"X-API-Key": API_KEY}},
    )
    DestinationFactory(workspace=workspace, name="CRM webhook", status=DestinationStatus.CONNECTED)
    DestinationFactory(
        workspace=workspace,
        name="Legacy webhook",
        status=DestinationStatus.ERROR,
        status_error="The endpoint answered HTTP 401.",
    )
    wait = WebDriverWait(browser, 20)

    with AdminLiveServer() as server:
        # log in
        browser.get(f"{server.url}/admin/login/?next=/admin/destinations/destination/")
        browser.find_element(By.NAME, "username").send_keys(USERNAME)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.ID, "changelist")))
        badges = browser.find_elements(By.CSS_SELECTOR, "#result_list .status-badge")
        assert sorted(b.text for b in badges) == ["Connected", "Error", "Pending"]
        # the admin's own CSS is served: the page is styled, not bare HTML
        assert browser.find_element(By.ID, "header").value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
        browser.save_screenshot(str(ARTIFACTS / "admin-destination-list.png"))
        assert API_KEY not in browser.page_source

        # open the destination and start the test
        browser.find_element(By.LINK_TEXT, "Orders webhook").click()
        button = wait.until(ec.element_to_be_clickable((By.ID, "test-connection")))
        assert API_KEY not in browser.page_source
        browser.save_screenshot(str(ARTIFACTS / "admin-destination-change.png"))
        clicked = time.monotonic()
        button.click()

        # the first step arrives while the slow delivery is still running
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'li[data-step="connectivity"]')))
        first_at = time.monotonic() - clicked
        assert browser.find_elements(By.CSS_SELECTOR, 'li[data-step="delivery"]') == []
        assert browser.find_element(By.ID, "test-result").get_attribute("data-state") == "running"
        badge = browser.find_element(By.ID, "status-badge")
        assert badge.get_attribute("data-status") == "pending"
        step = browser.find_element(By.CSS_SELECTOR, 'li[data-step="connectivity"]')
        assert step.get_attribute("data-status") == "passed" and "Reached 127.0.0.1" in step.text
        browser.save_screenshot(str(ARTIFACTS / "admin-test-connection-live.png"))

        # then the second, then the result and the new status
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'li[data-step="delivery"]')))
        second_at = time.monotonic() - clicked
        wait.until(lambda d: d.find_element(By.ID, "test-result").get_attribute("data-state") != "running")
        assert browser.find_element(By.ID, "test-result").get_attribute("data-state") == "passed"
        badge = browser.find_element(By.ID, "status-badge")
        assert badge.get_attribute("data-status") == "connected" and badge.text == "Connected"
        assert [li.get_attribute("data-step") for li in browser.find_elements(By.CSS_SELECTOR, "#steps li")] == [
            "connectivity",
            "delivery",
        ]
        browser.save_screenshot(str(ARTIFACTS / "admin-test-connection-done.png"))
        assert API_KEY not in browser.page_source

    assert second_at - first_at > DELIVERY_DELAY - 1.0, (first_at, second_at)
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.CONNECTED
    assert TestRun.objects.get(destination=destination).trigger == "admin"
    assert Destination.objects.count() == 3
    for name in ("admin-destination-list.png", "admin-test-connection-live.png", "admin-test-connection-done.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
