"""The server as started for real (uvicorn in a subprocess): production static files through whitenoise, and
development's browsable API for staff logged into the admin (session, CSRF checked)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from tests.factories import DestinationFactory, MembershipFactory, UserFactory
from tests.topology import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "PYTEST"))}
    return {**env, "DJANGO_TESTING": "false", **extra}


@contextmanager
def uvicorn(env: dict):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "zeotap_composable.asgi:application",
            "--port",
            str(port),
            "--lifespan",
            "off",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(process.stdout.read().decode()) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_production_serves_the_admins_static_files_through_whitenoise(tmp_path):
    env = _env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x" * 50,
        SECRETS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    collect = subprocess.run(  # the step docs/deployment.md gives for production
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert collect.returncode == 0, collect.stderr.decode()
    with uvicorn(env) as url:
        login = requests.get(f"{url}/admin/login/", timeout=10)
        assert login.status_code == 200
        css = re.search(r'href="(/static/admin/css/base\.css)"', login.text)
        assert css, login.text[:500]
        response = requests.get(url + css[1], timeout=10, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
        assert response.headers["Cache-Control"].startswith("max-age=")
        assert response.headers.get("Content-Encoding") == "gzip"  # the compressed copy collectstatic made
        docs = requests.get(f"{url}/api/docs/", timeout=10).text
        bundle = re.search(r'src="(/static/drf_spectacular_sidecar/[^"]+swagger-ui-bundle[^"]*\.js)"', docs)
        assert bundle and requests.get(url + bundle[1], timeout=10).status_code == 200  # Swagger UI offline


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _session_cookie(user) -> dict:
    client = Client()
    client.force_login(user)
    return {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}


@pytest.mark.django_db(transaction=True)
def test_development_staff_use_the_browsable_api_with_csrf():
    staff = UserFactory(username="ops@example.com", is_staff=True)
    membership = MembershipFactory(user=staff)
    DestinationFactory(workspace=membership.workspace, name="Orders")
    outsider = UserFactory(username="member@example.com")  # not staff: the session is ignored
    MembershipFactory(user=outsider, workspace=membership.workspace)
    path = f"/api/v1/workspaces/{membership.workspace.pk}/destinations"

    with uvicorn(_env(DJANGO_DEBUG="true", DATABASE_URL=_database_url())) as url:
        browser = requests.Session()
        browser.cookies.update(_session_cookie(staff))
        page = browser.get(url + path, headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and "Django REST framework" in page.text and "Orders" in page.text
        assert [d["name"] for d in browser.get(url + path, timeout=10).json()] == ["Orders"]  # no X-Workspace-ID

        body = {"name": "Leads", "destination_type": "webhook", "config": {"url": "https://hooks.example.com/x"}}
        refused = browser.post(url + path, json=body, timeout=10)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        token = browser.cookies["csrftoken"]
        created = browser.post(url + path, json=body, headers={"X-CSRFToken": token}, timeout=10)
        assert created.status_code == 201, created.text

        member = requests.Session()
        member.cookies.update(_session_cookie(outsider))
        assert member.get(url + path, timeout=10).status_code == 401


@pytest.mark.django_db
def test_without_debug_a_session_does_not_authenticate_the_api():
    staff = UserFactory(username="ops2@example.com", is_staff=True, is_superuser=True)
    membership = MembershipFactory(user=staff)
    client = Client()
    client.force_login(staff)
    response = client.get(f"/api/v1/workspaces/{membership.workspace.pk}/destinations")
    assert response.status_code == 401
