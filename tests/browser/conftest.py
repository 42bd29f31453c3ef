"""What the browser tests share: headless Chromium, the ASGI app served with its static files, the artifacts folder."""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.emulators.webhook import WebhookReceiver
from tests.sse import LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
USERNAME, PASSWORD = "ops", "ops-password-4821"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
)


class AdminLiveServer(LiveServer):
    """uvicorn serving the ASGI app with the admin's static files (as runserver would in development)."""

    def __init__(self):
        super().__init__()
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from zeotap_composable.asgi import application

        app = application if isinstance(application, ASGIStaticFilesHandler) else ASGIStaticFilesHandler(application)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: what the CSP refused
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def slow_webhook_receiver(*, api_key: str, delay: float):
    """A receiver whose connectivity HEAD is answered at once and each delivery POST after `delay` seconds,
    so a browser can watch the first step arrive before the second."""
    with WebhookReceiver(required_headers={"X-API-Key": api_key}) as receiver:
        original = receiver.on_hook

        def slow_delivery(request, name):
            if request.method == "POST":
                time.sleep(delay)
            return original(request, name)

        receiver.on_hook = slow_delivery
        yield receiver
