"""Browsers as clients, in headless Chromium.

A web app on another origin (tests/browser/cross_origin_app/, served by its own HTTP server) runs a connection
test with @microsoft/fetch-event-source as docs/streaming-clients.md shows it, while the server ends each stream
after a second, so the client must retry; the Idempotency-Key makes the retry re-attach to the same run. It then
follows the run with a plain EventSource and a stream token; once it has `done`, its reconnection is answered
204 and it stops. And Swagger UI fills the X-Workspace-ID header from the path's workspace id.
"""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from destinations.models import TestRun
from tests.browser.conftest import ARTIFACTS, CHROMEDRIVER, CHROMIUM, AdminLiveServer, slow_webhook_receiver
from tests.conftest import make_api_client

APP_DIR = Path(__file__).resolve().parent / "cross_origin_app"
API_KEY = "k-123"
DELIVERY_DELAY = 2.5

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs headless Chromium and chromedriver (Debian packages chromium and chromium-driver)",
    ),
]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class AppOrigin:
    """The web app's own origin: a static HTTP server on another port of the loopback address."""

    def __enter__(self) -> AppOrigin:
        handler = functools.partial(QuietHandler, directory=str(APP_DIR))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def report(browser) -> dict:
    return browser.execute_script(
        "const r = window.report || {}; return {attempts: r.attempts, steps: r.steps, done: r.done, "
        "error: r.error || null, followed: r.followed, followState: r.followState, eventsUrl: r.eventsUrl || null};"
    )


def test_a_web_app_on_another_origin_runs_and_follows_a_test(browser, settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    settings.SSE_MAX_STREAM_SECONDS = 1  # the delivery step takes longer: the first stream ends before `done`
    api = make_api_client()
    slow = slow_webhook_receiver(api_key=API_KEY, delay=DELIVERY_DELAY)
    with slow as receiver, AdminLiveServer() as server, AppOrigin() as app:
        settings.CORS_ALLOWED_ORIGINS = [app.origin]
        body = {
            "destination_type": "webhook",
            "config": {"url": f"{receiver.url}/hooks/orders", "headers": {"X-API-Key": API_KEY}},
        }
        query = {"api": server.url, "workspace": str(api.workspace.pk), "token": api.token, "body": json.dumps(body)}
        browser.get(f"{app.origin}/index.html?{urlencode(query)}")
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "run").is_enabled())
        browser.find_element(By.ID, "run").click()
        WebDriverWait(browser, 30).until(lambda b: report(b)["done"] or report(b)["error"])
        ran = report(browser)
        assert ran["error"] is None, ran
        assert ran["done"]["success"] is True
        assert ran["attempts"] >= 2  # the first stream ended early: fetch-event-source sent the POST again
        assert ran["steps"] == ["connectivity", "delivery"]  # each step once, although it retried
        run = TestRun.objects.get()  # and one vendor test, not one per attempt
        assert str(run.pk) == ran["done"]["test_run_id"]
        assert len([call for call in receiver.calls if call.method == "POST"]) == 1

        browser.find_element(By.ID, "follow").click()
        # the stream ends after `done`; EventSource reconnects with Last-Event-ID, is answered 204, and stops
        WebDriverWait(browser, 20).until(lambda b: report(b)["followState"] == 2)
        followed = report(browser)
        ids = [f"{kind}:testrun-{run.pk}:{n}" for kind, n in (("step", 1), ("step", 2), ("done", 3))]
        assert followed["followed"] == ids  # once each, with the run id spelled as everywhere else
        assert api.token not in followed["eventsUrl"] and "stream_token=" in followed["eventsUrl"]
        browser.save_screenshot(str(ARTIFACTS / "cross-origin-app.png"))


def test_swagger_ui_fills_the_workspace_header_from_the_path(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    workspace_id = "4f1c2b9e-8a7d-4c3e-9b21-0d5e6f7a8b9c"
    with AdminLiveServer() as server:
        browser.get(f"{server.url}/api/docs/#/destinations/destinations_list")
        operation = WebDriverWait(browser, 20).until(
            lambda b: b.find_element(By.ID, "operations-destinations-destinations_list")
        )
        if not operation.find_elements(By.CSS_SELECTOR, ".try-out__btn"):
            operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        WebDriverWait(browser, 10).until(lambda b: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
        operation.find_element(By.CSS_SELECTOR, 'tr[data-param-name="workspace_id"] input').send_keys(workspace_id)
        header = operation.find_element(By.CSS_SELECTOR, 'tr[data-param-name="X-Workspace-ID"] input')
        WebDriverWait(browser, 5).until(lambda b: header.get_attribute("value") == workspace_id)
        ARTIFACTS.mkdir(exist_ok=True)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
        browser.save_screenshot(str(ARTIFACTS / "swagger-workspace-header.png"))
        # a header typed by hand stays as typed
        header.clear()
        header.send_keys("typed-by-hand")
        operation.find_element(By.CSS_SELECTOR, 'tr[data-param-name="workspace_id"] input').send_keys("0")
        assert header.get_attribute("value") == "typed-by-hand"
