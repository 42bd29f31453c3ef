"""Connect with Salesforce in a real browser: the admin's button, the emulator's consent page, back to a
connected connection. Screenshots under artifacts/."""

from __future__ import annotations

import pytest

from destinations.models import Connection, Destination
from tests.browser.conftest import ARTIFACTS, CHROMEDRIVER, CHROMIUM, PASSWORD, USERNAME, AdminLiveServer
from tests.emulators import salesforce
from tests.factories import WorkspaceFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]


def test_connect_with_salesforce_in_the_admin(browser, settings, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)
    WorkspaceFactory(name="Acme")
    wait = WebDriverWait(browser, 20)
    with salesforce.EMULATOR() as emulator, AdminLiveServer() as server:
        emulator.redirect_uris.add(f"{server.url}/oauth/callback")
        settings.CONNECTOR_BASE_URLS = {"salesforce": emulator.url}
        settings.OAUTH_APPS = {
            "salesforce": {"client_id": salesforce.CLIENT_ID, "client_secret": salesforce.CLIENT_SECRET}
        }

        browser.get(f"{server.url}/admin/login/?next=/admin/destinations/connection/add/")
        browser.find_element(By.NAME, "username").send_keys(USERNAME)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait.until(ec.element_to_be_clickable((By.ID, "choose-salesforce"))).click()  # the type comes first
        wait.until(ec.element_to_be_clickable((By.ID, "connect-salesforce"))).click()

        wait.until(ec.presence_of_element_located((By.ID, "oauth-connect-form")))
        Select(browser.find_element(By.NAME, "workspace")).select_by_visible_text("Acme")
        name = browser.find_element(By.NAME, "name")
        name.clear()
        name.send_keys("Acme Salesforce")
        browser.find_element(By.ID, "oauth-continue").click()

        allow = wait.until(ec.element_to_be_clickable((By.ID, "allow")))  # the emulator's consent page
        assert browser.current_url.startswith(emulator.url)
        browser.save_screenshot(str(ARTIFACTS / "oauth-salesforce-consent.png"))
        allow.click()

        wait.until(ec.presence_of_element_located((By.ID, "reauthorise")))
        connection = Connection.objects.get()
        assert browser.current_url == f"{server.url}/admin/destinations/connection/{connection.pk}/change/"
        page = browser.page_source
        assert "Connected Acme Salesforce" in page and USERNAME in page and "api refresh_token" in page
        for secret in (connection.credentials["refresh_token"], salesforce.CLIENT_SECRET):
            assert secret not in page
        browser.save_screenshot(str(ARTIFACTS / "oauth-salesforce-connected.png"))
        assert connection.authorized_at is not None and connection.credentials["instance_url"] == emulator.url

        # a revoked grant left a destination in error; Re-authorise runs the same flow and restores it
        destination = Destination(
            workspace=connection.workspace,
            name="Contacts upsert",
            destination_type="salesforce",
            connection=connection,
            status="error",
            status_error="token_expired: Salesforce refused the refresh token (invalid_grant).",
        )
        destination.store_config({"object": "Contact"})
        destination.save()
        browser.refresh()
        assert "Contacts upsert" in browser.find_element(By.ID, "used-by").text
        browser.find_element(By.ID, "reauthorise").click()
        wait.until(ec.element_to_be_clickable((By.ID, "allow"))).click()
        wait.until(ec.presence_of_element_located((By.ID, "reauthorise")))
        assert browser.current_url == f"{server.url}/admin/destinations/connection/{connection.pk}/change/"
        assert browser.find_element(By.CSS_SELECTOR, "#used-by .status-badge").text == "Pending"
        browser.save_screenshot(str(ARTIFACTS / "oauth-salesforce-reauthorised.png"))
    destination.refresh_from_db()
    assert destination.status == "pending" and Connection.objects.count() == 1

    assert (ARTIFACTS / "oauth-salesforce-connected.png").stat().st_size > 10_000
