import base64
import os

import pytest
from werkzeug.routing import Rule
from werkzeug.utils import redirect

from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.webhook import TEST_EVENT_HEADER, WebhookConnector
from tests.conftest import LOOPBACK
from tests.emulators.base import Emulator
from tests.emulators.webhook import WebhookReceiver

SIGNING_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


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
    }
    results = run(config, policy)
    assert results["connectivity"].status == PASSED
    assert results["delivery"].status == PASSED
    assert "HTTP 202" in results["delivery"].message
    assert results["delivery"].details["http_status"] == 202
    assert results["delivery"].details["proven"] == ["the endpoint accepts an event delivery (2xx)"]
    delivered = receiver.received[0]
    assert delivered["json"]["type"] == "connection_test"
    assert delivered["headers"][TEST_EVENT_HEADER] == "true"
    assert "Webhook-Signature" not in delivered["headers"]
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


def test_a_signed_delivery_verifies_with_the_standard_webhooks_library(policy):
    """The receiver checks the signature with standardwebhooks' Webhook.verify, as the spec's users do."""
    with WebhookReceiver(signing_secret=SIGNING_SECRET) as receiver:
        results = run({"url": f"{receiver.url}/hooks/in", "signing_secret": SIGNING_SECRET}, policy)
        assert results["delivery"].status == PASSED, results["delivery"].message
        assert "signed" in results["delivery"].message
        headers = receiver.received[0]["headers"]
        assert headers["Webhook-Id"].startswith("msg_") and headers["Webhook-Timestamp"].isdigit()
        assert headers["Webhook-Signature"].startswith("v1,")
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        refused = run({"url": f"{receiver.url}/hooks/in", "signing_secret": other}, policy)["delivery"]
        assert refused.error["code"] == "auth_invalid"
        assert other not in str(refused.as_dict())


@pytest.mark.parametrize("value", ["shh", "whsec_", "whsec_" + base64.b64encode(b"short").decode(), "t=1,v1=ab"])
def test_a_signing_secret_must_be_a_standard_webhooks_secret(value):
    errors = WebhookConnector.validate_config({"url": "https://example.com/h", "signing_secret": value})
    assert list(errors) == ["config.signing_secret"]
    assert value not in str(errors)


class Redirecting(Emulator):
    rules = (Rule("/hook", endpoint="hook", methods=["HEAD", "POST"]),)
    target = ""
    status = 302

    def on_hook(self, request):
        return redirect(self.target, self.status)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_fails_naming_its_target_and_nothing_goes_there(policy, status):
    with WebhookReceiver() as elsewhere, Redirecting() as endpoint:
        endpoint.target, endpoint.status = f"{elsewhere.url}/hooks/final?token=abc", status
        results = run({"url": f"{endpoint.url}/hook", "headers": {"X-API-Key": "k-secret-123"}}, policy)
        delivery = results["delivery"]
        assert delivery.status == FAILED and delivery.error["code"] == "invalid_config"
        assert f"{elsewhere.url}/hooks/final" in delivery.message and "token=abc" not in delivery.message
        assert "final URL" in delivery.error["remediation"]
        assert elsewhere.calls == []  # neither the event nor the header went to the other origin


def test_a_408_is_a_retryable_timeout(receiver, policy):
    receiver.fail("hook", 408, {"error": "request timeout"})
    delivery = run({"url": f"{receiver.url}/hooks/in"}, policy)["delivery"]
    assert delivery.error["code"] == "timeout" and delivery.error["retryable"] is True


def test_a_410_says_the_endpoint_no_longer_accepts_events(receiver, policy):
    receiver.fail("hook", 410, {"error": "gone"})
    delivery = run({"url": f"{receiver.url}/hooks/in"}, policy)["delivery"]
    assert delivery.error["code"] == "invalid_config" and "410 Gone" in delivery.error["remediation"]


def test_fields_are_free_form_and_delivered_as_inserts(receiver, policy):
    description = WebhookConnector({"url": f"{receiver.url}/hook"}, policy=policy).fields().as_dict()
    assert description["fields"] == []
    assert description["new_fields"] == "*"
    assert description["sync_modes"] == ["insert"]
