import pytest

from connectors.base import FAILED, PASSED, SKIPPED
from connectors.http import OutboundPolicy, parse_networks
from connectors.webhook import SIGNATURE_HEADER, TEST_EVENT_HEADER, WebhookConnector
from tests.conftest import LOOPBACK
from tests.emulators.webhook import WebhookReceiver


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": "k-123"}) as server:
        yield server


def run(config, policy):
    return {r.name: r for r in WebhookConnector(config, policy=policy).test()}


def test_delivers_a_marked_test_event_with_headers_and_signature(receiver, policy):
    config = {
        "url": f"{receiver.url}/hooks/in",
        "method": "PUT",
        "headers": {"X-API-Key": "k-123"},
        "signing_secret": "shh",
    }
    results = run(config, policy)
    assert results["connectivity"].status == PASSED
    assert results["delivery"].status == PASSED
    assert "HTTP 202" in results["delivery"].message
    assert results["delivery"].details["http_status"] == 202
    delivered = receiver.received[0]
    assert delivered["json"]["type"] == "connection_test"
    assert delivered["headers"][TEST_EVENT_HEADER] == "true"
    assert delivered["headers"][SIGNATURE_HEADER].startswith("t=")
    assert receiver.calls_to("hook")[-1].method == "PUT"


def test_rejected_key_is_auth_invalid_without_echoing_the_secret(receiver, policy):
    results = run({"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": "wrong-secret"}}, policy)
    delivery = results["delivery"]
    assert delivery.status == FAILED
    assert delivery.error["code"] == "auth_invalid"
    assert "wrong-secret" not in str(delivery.as_dict())


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "not_found"),
        (405, "invalid_config"),
        (429, "rate_limited"),
        (503, "vendor_error"),
        (403, "insufficient_permissions"),
    ],
)
def test_receiver_errors_map_to_codes(receiver, policy, status, code):
    receiver.fail("hook", status, {"error": "x"}, headers={"Retry-After": "7"} if status == 429 else None)
    results = run({"url": f"{receiver.url}/hooks/in"}, policy)
    assert results["delivery"].error["code"] == code
    if status == 429:
        assert results["delivery"].error["retry_after"] == 7
        assert results["delivery"].error["retryable"] is True


def test_connection_refused_skips_delivery(policy):
    with WebhookReceiver() as server:
        url = f"{server.url}/hooks/in"
    results = run({"url": url}, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert results["delivery"].status == SKIPPED


def test_unresolvable_host_is_dns(policy):
    results = run({"url": "https://no-such-host.invalid/hook"}, policy)
    assert results["connectivity"].error["code"] == "dns"


def test_untrusted_certificate_is_tls(server_ssl_context, policy):
    with WebhookReceiver(ssl_context=server_ssl_context) as server:
        results = run({"url": f"{server.url}/hooks/in"}, policy)
    assert results["connectivity"].error["code"] == "tls"


def test_trusted_certificate_passes(server_ssl_context, ca_bundle):
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), ca_bundle=ca_bundle)
    with WebhookReceiver(ssl_context=server_ssl_context) as server:
        results = run({"url": f"{server.url}/hooks/in"}, policy)
    assert results["connectivity"].status == PASSED
    assert "valid TLS certificate" in results["connectivity"].message


def test_slow_receiver_times_out(receiver, policy):
    receiver.slow("hook", 1.0)
    connector = WebhookConnector({"url": f"{receiver.url}/hooks/in"}, policy=policy)
    result = connector.run_step(connector.steps[0], deadline=__import__("time").monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields():
    errors = WebhookConnector.validate_config({"url": "not a url", "method": "GET", "headers": {"A": 1}})
    assert set(errors) == {"config.url", "config.method", "config.headers.A"}
    assert WebhookConnector.validate_config({})["config.url"] == ["This field is required."]
