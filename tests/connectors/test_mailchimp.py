import base64
import time

import pytest

import connectors.mailchimp
from connectors.mailchimp import MailchimpConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.mailchimp import (
    API_KEY,
    DISABLED_USER_KEY,
    LIST_ID,
    MailchimpEmulator,
    problem,
    valid_config,
)


@pytest.fixture(scope="module")
def server():
    with MailchimpEmulator() as running:
        yield running


@pytest.fixture
def mailchimp(server):
    server.reset()
    return server


def make(server, **overrides):
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"mailchimp": server.url})
    return MailchimpConnector({**valid_config(server), **overrides}, policy=policy)


def run(server, **overrides):
    return {r.name: r for r in make(server, **overrides).test()}


def basic_password(call) -> str:
    scheme, _, credential = call.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(credential).decode().partition(":")[2]


def test_all_steps_pass_with_basic_auth_on_the_keys_data_center(mailchimp):
    results = run(mailchimp)
    assert [r.status for r in results.values()] == [PASSED, PASSED, PASSED]
    assert results["connectivity"].details["data_center"] == "us19"
    assert results["authentication"].message == (
        "Mailchimp accepted the API key in data center us19 for account 'Acme Inc.'."
    )
    assert results["audience"].details == {
        "list_id": LIST_ID,
        "list_name": "Customers",
        "double_optin": False,
        "member_count": 1234,
        "proven": ["add or update the audience's members (PUT /3.0/lists/{list_id}/members/{hash})"],
    }
    assert "Authorization" not in mailchimp.calls_to("ping")[0].headers
    root, audience = mailchimp.calls_to("root")[0], mailchimp.calls_to("list")[0]
    assert basic_password(root) == API_KEY and basic_password(audience) == API_KEY
    assert root.query == {"fields": "account_id,account_name"}  # no owner e-mail or name fetched
    assert audience.path == f"/3.0/lists/{LIST_ID}"


def test_derived_host_uses_the_key_suffix_and_stays_redirectable():
    config = {"api_key": "abc123-us7", "list_id": LIST_ID}
    assert MailchimpConnector(config).api_url("/ping") == "https://us7.api.mailchimp.com/3.0/ping"
    redirected = MailchimpConnector(config, policy=OutboundPolicy(base_urls={"mailchimp": "http://emu:9"}))
    assert redirected.api_url("/lists/x") == "http://emu:9/3.0/lists/x"


def test_key_without_suffix_fails_before_any_call(mailchimp):
    secret = "0123456789abcdef0123456789abcdef"
    results = run(mailchimp, api_key=secret)
    assert results["connectivity"].error["code"] == "invalid_config"
    assert results["authentication"].status == SKIPPED
    assert mailchimp.calls == []
    assert secret not in str([r.as_dict() for r in results.values()])


def test_invalid_key_is_auth_invalid_and_never_echoed(mailchimp):
    secret = "ffffffffffffffffffffffffffffffff-us19"
    results = run(mailchimp, api_key=secret)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "API Key Invalid"
    assert "wrong datacenter" in auth.message
    assert auth.details["vendor_instance"]
    assert "-<dc> suffix" in auth.error["remediation"]
    assert results["audience"].status == SKIPPED
    dump = str([r.as_dict() for r in results.values()])
    assert secret not in dump and secret.split("-")[0] not in dump


@pytest.mark.parametrize(
    ("endpoint", "status", "title", "code", "hint"),
    [
        ("root", 403, "Wrong Datacenter", "invalid_config", "suffix"),
        ("list", 403, "Forbidden", "insufficient_permissions", "Manager"),
        ("list", 403, "Compliance Related", "insufficient_permissions", "compliance"),
        ("root", 500, "Internal Server Error", "vendor_error", ""),
    ],
)
def test_documented_problems_map_to_codes(mailchimp, endpoint, status, title, code, hint):
    mailchimp.fail(endpoint, status, problem(status, title, "An error happened."))
    step = "authentication" if endpoint == "root" else "audience"
    result = run(mailchimp)[step]
    assert result.status == FAILED
    assert result.error["code"] == code
    assert result.error["vendor_code"] == title
    assert hint in result.error["remediation"]


def test_disabled_user_is_insufficient_permissions(mailchimp):
    auth = run(mailchimp, api_key=DISABLED_USER_KEY)["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert "disabled" in auth.error["remediation"]


def test_unknown_audience_is_not_found(mailchimp):
    result = run(mailchimp, list_id="ffff000000")["audience"]
    assert result.error["code"] == "not_found"
    assert "no audience with ID ffff000000" in result.message
    assert "Audience name and defaults" in result.error["remediation"]


@pytest.mark.parametrize(("headers", "retry_after"), [({}, None), ({"Retry-After": "4"}, 4)])
def test_too_many_requests_is_rate_limited(mailchimp, headers, retry_after):
    body = problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
    mailchimp.fail("list", 429, body, headers=headers)
    result = run(mailchimp)["audience"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retryable"] is True
    assert result.error.get("retry_after") == retry_after
    assert "10 simultaneous connections" in result.error["remediation"]


def test_slow_answer_times_out(mailchimp):
    mailchimp.slow("root", 1.0)
    connector = make(mailchimp)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields_without_echoing_the_key():
    errors = MailchimpConnector.validate_config({"api_key": "nodatacenter", "list_id": "a b", "status_if_new": "x"})
    assert set(errors) == {"config.api_key", "config.list_id", "config.status_if_new"}
    assert errors["config.api_key"] == ["Must be a Mailchimp API key ending in its data-center suffix, e.g. -us19."]
    assert "nodatacenter" not in str(errors)
    assert MailchimpConnector.validate_config({"api_key": API_KEY})["config.list_id"] == ["This field is required."]
    assert MailchimpConnector.validate_config(valid_config(None)) == {}


def test_fields_are_member_fields_plus_every_page_of_merge_fields(mailchimp, monkeypatch):
    monkeypatch.setattr(connectors.mailchimp, "MERGE_FIELDS_PAGE", 3)
    description = make(mailchimp, status_if_new="pending").fields().as_dict()
    assert [c.query["offset"] for c in mailchimp.calls_to("merge_fields")] == ["0", "3", "6"]
    assert description["source"] == "live"
    assert description["object"] == "member"
    fields = {f["name"]: f for f in description["fields"]}
    assert {n for n, f in fields.items() if f["identifier"]} == {"email_address"}
    assert {n for n, f in fields.items() if f["required"]} == {"email_address", "merge_fields.TIER"}
    assert fields["merge_fields.FNAME"]["label"] == "First Name"
    assert fields["merge_fields.ADDRESS"]["type"] == "object"
    assert fields["merge_fields.LTV"]["type"] == "number"
    assert "One of: Gold, Silver." in fields["merge_fields.TIER"]["description"]
    assert fields["merge_fields.TIER"]["data_type"] == "enum"
    assert fields["merge_fields.TIER"]["choices"] == ["Gold", "Silver"]
    assert fields["merge_fields.ADDRESS"]["data_type"] == "json"
    assert fields["merge_fields.BIRTHDAY"]["data_type"] == "string"  # MM/DD text, not a date
    assert fields["status"]["data_type"] == "enum" and "transactional" in fields["status"]["choices"]
    assert fields["email_address"]["unique"] is True
    assert description["sync_modes"] == ["upsert"]
    assert not any(f["must_hash"] for f in fields.values())
    assert description["options"]["status_if_new"] == "pending"


def test_fields_failure_raises(mailchimp):
    with pytest.raises(ConnectorError) as caught:
        make(mailchimp, list_id="nope").fields()
    assert caught.value.code == "not_found"
