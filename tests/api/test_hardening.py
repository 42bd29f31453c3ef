"""Throttling and hardening: 429 with Retry-After past the limits, admin lockout, HSTS and CSP, a quiet DEBUG page."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent


def limits(settings, **rates):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, **rates}


def test_connection_tests_are_limited_per_token(api, settings):
    limits(settings, vendor_calls_per_token="2/min")
    with WebhookReceiver() as receiver:
        body = {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}}
        statuses = [api.post(api.path("destinations/test"), body, format="json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_only_a_fields_refresh_counts_against_the_limit(api, settings):
    limits(settings, vendor_calls_per_address="1/min")
    destination = DestinationFactory(workspace=api.workspace, config={"url": "https://hooks.example.com/in"})
    path = api.path(f"destinations/{destination.pk}/fields")
    assert [api.get(path).status_code for _ in range(3)] == [200, 200, 200]
    assert api.get(path, {"refresh": "true"}).status_code == 200
    response = api.get(path, {"refresh": "true"})
    assert response.status_code == 429 and "Retry-After" in response


def test_wrong_admin_passwords_lock_the_address_out(client, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser("root", "root@example.com", "right-password-1")
    statuses = [
        client.post("/admin/login/", {"username": "root", "password": f"wrong-{n}"}).status_code for n in range(4)
    ]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
    response = client.post("/admin/login/", {"username": "root", "password": "right-password-1"})
    assert response.status_code == 429


def test_admin_and_docs_send_a_content_security_policy(client):
    for path in ("/admin/login/", "/api/docs/"):
        policy = client.get(path)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path


def test_production_sends_hsts_and_csp():
    script = textwrap.dedent(
        """
        import django, json
        django.setup()
        from django.test import Client
        response = Client().get("/admin/login/", secure=True, HTTP_HOST="destinations.example.com")
        print(json.dumps({k: response.get(k, "") for k in ("Strict-Transport-Security", "Content-Security-Policy")}))
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "zeotap_composable.settings",
        "DJANGO_TESTING": "false",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 50,
        "SECRETS_ENCRYPTION_KEYS": "Cn6S4m1RmoVwUoiVmUOwS5bZXJUShl7x1nDLHd6Z8Xk=",
        "ALLOWED_HOSTS": "destinations.example.com",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    headers = json.loads(done.stdout.strip().splitlines()[-1])
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_the_debug_error_page_shows_no_request_data_or_config(settings):
    settings.DEBUG = True
    secret = "-".join(["typed", "secret", "value", "42"])  # not spelled out in this source the page quotes
    request = RequestFactory().post("/api/v1/x", {"api_key": secret, "name": "n"})
    config = {"api_key": secret}  # noqa: F841 - a local the error page would show
    try:
        raise ValueError("boom")
    except ValueError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert "boom" in html and secret not in html
