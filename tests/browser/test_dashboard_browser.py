"""The failures dashboard in headless Chromium: the trend chart draws (Chart.js served locally, under the CSP),
switches to one type, and the page is kept as a screenshot under artifacts/."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.admin.dashboard import TREND_DAYS
from destinations.models import DestinationStatus, TestRun
from tests.browser.conftest import ARTIFACTS, CHROMEDRIVER, CHROMIUM, PASSWORD, USERNAME, AdminLiveServer
from tests.factories import DestinationFactory, WorkspaceFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]

FAILURE = {"code": "auth_invalid", "remediation": "Create a new API key in Settings → API keys and paste it here."}


def history(destinations, days: int = 30) -> None:
    """A month of scheduled tests, failing more often lately."""
    rng = random.Random(7)
    now = timezone.now()
    runs = []
    for day in range(days):
        for destination in destinations:
            for _ in range(rng.randint(1, 4)):
                failed = rng.random() < 0.1 + 0.3 * (days - day) / days
                started = now - timedelta(days=day, minutes=rng.randint(0, 600))
                step = {"name": "delivery", "status": "failed" if failed else "passed", "message": "HTTP 401"}
                runs.append(
                    TestRun(
                        workspace=destination.workspace,
                        destination=destination,
                        destination_type=destination.destination_type,
                        success=not failed,
                        finished_at=started,
                        steps=[{**step, "error": FAILURE}] if failed else [step],
                    )
                )
    TestRun.objects.bulk_create(runs)
    for run in runs:  # started_at is auto_now_add: each run is moved to its day afterwards
        run.started_at = run.finished_at
    TestRun.objects.bulk_update(runs, ["started_at"])


def test_the_dashboard_draws_the_trend_chart(browser, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    django_user_model.objects.create_superuser(username=USERNAME, email="ops@example.com", password=PASSWORD)
    acme = WorkspaceFactory(name="Acme")
    destinations = [
        DestinationFactory(workspace=acme, name="Orders webhook"),
        DestinationFactory(workspace=acme, name="Leads bucket", destination_type="s3"),
        DestinationFactory(workspace=acme, name="CRM", destination_type="hubspot", status=DestinationStatus.ERROR),
    ]
    history(destinations)

    with AdminLiveServer() as server:
        browser.get(f"{server.url}/admin/login/?next=/admin/destinations/destination/dashboard/")
        browser.find_element(By.NAME, "username").send_keys(USERNAME)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait = WebDriverWait(browser, 20)
        canvas = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#trend-chart[data-ready=true]"))
        # the chart drew bars: the canvas is no longer blank
        painted = "const c = arguments[0]; const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        painted += " let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n;"
        assert browser.execute_script(painted, canvas) > 1000
        assert browser.execute_script("return Chart.getChart(arguments[0]).data.labels.length", canvas) == 30
        assert browser.find_elements(By.CSS_SELECTOR, "#newest-failures .error-code")[0].text == "auth_invalid"
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1366, min(max(height, 900), 3000))
        browser.save_screenshot(str(ARTIFACTS / "admin-failures-dashboard.png"))

        Select(browser.find_element(By.ID, "trend-type")).select_by_value("s3")
        wait.until(lambda d: d.find_element(By.ID, "trend-chart").get_attribute("data-type") == "s3")
        totals = browser.execute_script(
            "return Chart.getChart(arguments[0]).data.datasets.map(d => d.data.reduce((a, b) => a + b, 0))", canvas
        )
        # The chart's window: the last TREND_DAYS days from midnight (UTC); the oldest day's history may start
        # before it, when the suite runs early in the day.
        first_day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=TREND_DAYS - 1)
        s3_runs = TestRun.objects.filter(destination_type="s3", started_at__gte=first_day)
        assert totals == [s3_runs.filter(success=True).count(), s3_runs.filter(success=False).count()]
        violations = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        assert violations == []
