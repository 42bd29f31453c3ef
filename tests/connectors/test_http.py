"""The outbound client: SSRF guard fully on, allow-list, redirects re-checked, vendor base URLs."""

import pytest

from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks, rebase_url
from tests.conftest import LOOPBACK
from tests.emulators.webhook import WebhookReceiver

GUARDED = OutboundPolicy()  # the production policy: nothing allowed beyond public addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://172.16.5.5/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fd00::1]/x",
        "http://224.0.0.1/x",
        "http://240.0.0.1/x",
        "http://0.0.0.0/x",
        "http://localhost/x",
    ],
)
def test_guard_refuses_internal_addresses(url):
    with pytest.raises(ConnectorError) as caught:
        OutboundClient(GUARDED).get(url)
    assert caught.value.code == "invalid_config"
    assert "internal address" in caught.value.message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http:///nohost"])
def test_only_http_and_https(url):
    with pytest.raises(ConnectorError) as caught:
        OutboundClient(GUARDED).get(url)
    assert caught.value.code == "invalid_config"


def test_allow_list_admits_only_the_listed_networks():
    with WebhookReceiver() as receiver:
        allowed = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)))
        assert allowed.get(f"{receiver.url}/hooks/x").status_code == 200
        other = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(["10.0.0.0/8"])))
        with pytest.raises(ConnectorError):
            other.get(f"{receiver.url}/hooks/x")


def test_redirects_are_checked_at_every_hop():
    """An allowed host that redirects to a refused address is refused."""
    from werkzeug.routing import Rule
    from werkzeug.utils import redirect

    from tests.emulators.base import Emulator

    class Redirector(Emulator):
        rules = (Rule("/go", endpoint="go"),)

        def on_go(self, request):
            return redirect("http://169.254.169.254/latest/meta-data/", 302)

    with Redirector() as server:
        client = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)))
        with pytest.raises(ConnectorError) as caught:
            client.get(f"{server.url}/go")
    assert "internal address" in caught.value.message
    assert caught.value.message.startswith("169.254.169.254 ")  # the refused target is named, not the first host


def test_check_host_for_non_requests_clients():
    with pytest.raises(ConnectorError):
        GUARDED.check_host("127.0.0.1", 443)
    OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)).check_host("127.0.0.1", 443)


def test_rebase_url_points_fixed_hosts_at_a_sandbox():
    assert (
        rebase_url("https://api.hubapi.com/crm/v3/x?a=1", "http://127.0.0.1:9000")
        == "http://127.0.0.1:9000/crm/v3/x?a=1"
    )
    assert rebase_url("https://api.hubapi.com/x", "http://sandbox/prefix/") == "http://sandbox/prefix/x"
    assert rebase_url("https://api.hubapi.com/x", None) == "https://api.hubapi.com/x"


def test_redirects_never_carry_our_headers_to_another_origin():
    from werkzeug.routing import Rule
    from werkzeug.utils import redirect

    from tests.emulators.base import Emulator

    class Redirector(Emulator):
        rules = (Rule("/go", endpoint="go"), Rule("/here", endpoint="here"))
        target = ""

        def on_go(self, request):
            return redirect(self.target, 302)

        def on_here(self, request):
            return self.json({"ok": True})

    secret_headers = {"X-API-Key": "k-123456", "Authorization": "Bearer t-123456"}
    with Redirector() as first, WebhookReceiver() as other:
        client = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)))
        first.target = f"{other.url}/hooks/x"
        assert client.get(f"{first.url}/go", headers=secret_headers, auth=("u", "p-123456")).status_code == 200
        received = other.calls[-1].headers
        assert "X-Api-Key" not in received and "Authorization" not in received
        first.target = "/here"  # the same origin keeps them
        assert client.get(f"{first.url}/go", headers=secret_headers).status_code == 200
        assert first.calls[-1].headers["X-Api-Key"] == "k-123456"


def test_a_vendors_retry_after_is_capped_at_an_hour():
    from connectors.runtime.http import retry_after_seconds

    assert retry_after_seconds(str(11 * 365 * 86400)) == 3600
    assert retry_after_seconds("Wed, 01 Jan 2037 00:00:00 GMT") == 3600
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("nan") is None


def test_the_client_records_every_credential_it_sends():
    with WebhookReceiver() as receiver:
        client = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)))
        client.post(
            f"{receiver.url}/hooks/x?api_key=query-key-1&page=2",
            data={"grant_type": "refresh_token", "refresh_token": "rt-123456", "client_secret": "cs-123456"},
            auth=("user-1", "basic-pass-1"),
        )
        client.post(f"{receiver.url}/hooks/x", json={"assertion": "jwt.abc.def", "nested": {"api_key": "k-999999"}})
        client.get(f"{receiver.url}/hooks/x", headers={"Authorization": "Bearer at-123456", "X-Api-Token": "xt-1"})
    sent = client.sent_credentials
    assert {"query-key-1", "rt-123456", "cs-123456", "user-1", "basic-pass-1"} <= sent
    assert {"jwt.abc.def", "k-999999", "Bearer at-123456", "at-123456", "xt-1"} <= sent
    assert not {"refresh_token", "2", "page"} & sent
