"""Fixtures shared by every test: loopback-only outbound policy, emulators, workspaces and clients."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest
import trustme
from django.http import HttpResponse
from django.test import Client

from connectors.runtime.http import OutboundPolicy, parse_networks

LOOPBACK = ("127.0.0.0/8", "::1/128")
_real_getaddrinfo = socket.getaddrinfo


def _offline_getaddrinfo(host, *args, **kwargs):
    """Tests never reach the internet: only addresses and localhost resolve; any other name fails as DNS does."""
    name = host.decode() if isinstance(host, bytes) else host
    try:
        if name is None or name == "localhost" or ipaddress.ip_address(name.strip("[]")):
            return _real_getaddrinfo(host, *args, **kwargs)
    except ValueError:
        pass
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture(autouse=True, scope="session")
def _no_public_dns():
    socket.getaddrinfo = _offline_getaddrinfo
    yield
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit histories and cached answers live in Django's cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _loopback_outbound(settings):
    """Tests reach only local emulators; the guard itself stays on (tests/connectors/test_http.py)."""
    settings.OUTBOUND_ALLOWED_NETWORKS = list(LOOPBACK)
    settings.CONNECTOR_BASE_URLS = {}


@pytest.fixture
def policy() -> OutboundPolicy:
    """A connector-level policy that may reach loopback emulators only."""
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK))


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(test_ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_ssl_context(test_ca):
    """An ssl context for an emulator serving https://127.0.0.1 with a cert from the test CA."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


class ApiClient:
    """A DRF test client that sends the bearer token and X-Workspace-ID, with path helpers."""

    def __init__(self, workspace, token: str):
        from rest_framework.test import APIClient

        self.workspace = workspace
        self.token = token
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_WORKSPACE_ID=str(workspace.pk))

    def path(self, suffix: str = "", workspace=None) -> str:
        workspace_id = (workspace or self.workspace).pk
        return f"/api/v1/workspaces/{workspace_id}/{suffix}".rstrip("/")

    def get(self, *args, **kwargs):
        """GET; a streamed answer (the array of every destination) is read whole, as an HTTP client would."""
        response = self.client.get(*args, **kwargs)
        if not response.streaming or not response.get("Content-Type", "").startswith("application/json"):
            return response
        whole = HttpResponse(b"".join(response.streaming_content), status=response.status_code)
        for name, value in response.items():
            whole[name] = value
        whole.json = lambda **kwargs: json.loads(whole.content, **kwargs)
        whole.wsgi_request, whole.streamed = response.wsgi_request, True
        return whole

    def __getattr__(self, method):
        return getattr(self.client, method)


def make_api_client(role="admin"):
    from tests.factories import MembershipFactory
    from workspaces.services import api_token_create

    membership = MembershipFactory(role=role)
    _token, plaintext = api_token_create(workspace=membership.workspace, user=membership.user)
    api_client = ApiClient(membership.workspace, plaintext)
    api_client.user = membership.user
    return api_client


@pytest.fixture
def api(db):
    return make_api_client()


@pytest.fixture
def viewer_api(db):
    return make_api_client(role="viewer")


@pytest.fixture
def other_api(db):
    """An admin of another workspace."""
    return make_api_client()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password="pw-ops-1")


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client
