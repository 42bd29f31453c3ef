"""Fixtures shared by every test: loopback-only outbound policy, emulators, workspaces and clients."""

from __future__ import annotations

import pytest
import trustme

from connectors.http import OutboundPolicy, parse_networks

LOOPBACK = ("127.0.0.0/8", "::1/128")


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
