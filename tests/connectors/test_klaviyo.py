import re
import time
from pathlib import Path

import pytest

from connectors.klaviyo import DEFAULT_REVISION, KlaviyoConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.klaviyo import (
    FULL_KEY,
    LIST_ID,
    NO_ACCOUNTS_KEY,
    NO_LIST_WRITE_KEY,
    PROFILES_ONLY_KEY,
    READ_ONLY_KEY,
    KlaviyoEmulator,
    throttled,
    valid_config,
)


@pytest.fixture(scope="module")
def server():
    with KlaviyoEmulator() as running:
        yield running


@pytest.fixture
def klaviyo(server):
    server.reset()
    return server


def make(server, **overrides):
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"klaviyo": server.url})
    config = {k: v for k, v in {**valid_config(server), **overrides}.items() if v is not None}
    return KlaviyoConnector(config, policy=policy)


def run(server, **overrides):
    return {r.name: r for r in make(server, **overrides).test()}


def test_all_steps_pass_with_key_revision_and_jsonapi_headers(klaviyo):
    results = run(klaviyo)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert results["authentication"].message == "Klaviyo accepted the private key for account AbC123 (Acme Inc.)."
    assert results["list"].details["list_name"] == "Newsletter"
    assert results["list"].details["opt_in_process"] == "double_opt_in"
    assert results["write_access"].details["proven"] == ["profiles:write"]
    assert results["list"].details["proven"] == ["lists:write, when list_id is set"]
    assert klaviyo.profiles == klaviyo.list_members == []  # the probes wrote nothing
    assert "Authorization" not in klaviyo.calls_to("root")[0].headers
    for endpoint in ("accounts", "list"):
        [call] = klaviyo.calls_to(endpoint)
        assert call.headers["Authorization"] == f"Klaviyo-API-Key {FULL_KEY}"
        assert call.headers["Revision"] == "2026-10-15"
        assert call.headers["Accept"] == "application/vnd.api+json"
    assert klaviyo.calls_to("list")[0].path == f"/api/lists/{LIST_ID}"


def test_default_revision_is_sent_and_no_list_means_no_list_call(klaviyo):
    results = run(klaviyo, revision=None, list_id=None)
    assert klaviyo.calls_to("accounts")[0].headers["Revision"] == DEFAULT_REVISION
    assert results["list"].status == PASSED
    assert "No list_id configured" in results["list"].message
    assert "proven" not in results["list"].details  # nothing was checked, so nothing is claimed
    assert not klaviyo.calls_to("list")


@pytest.mark.parametrize("status", [401, 400])
def test_unknown_key_is_auth_invalid_whether_klaviyo_says_401_or_400(klaviyo, status):
    klaviyo.bad_key_status = status
    secret = "pk_doesnotexist0000000000000000000000"
    results = run(klaviyo, private_api_key=secret)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "authentication_failed"
    assert auth.error["http_status"] == status
    assert "pk_" in auth.error["remediation"]
    assert results["list"].status == SKIPPED
    assert secret not in str([r.as_dict() for r in results.values()])


def test_key_without_accounts_scope_is_still_accepted(klaviyo):
    results = run(klaviyo, private_api_key=NO_ACCOUNTS_KEY)
    assert results["authentication"].status == PASSED
    assert results["authentication"].details["missing_scope"] == "accounts:read"
    assert results["list"].status == PASSED


def test_a_read_only_key_fails_naming_the_profiles_write_scope(klaviyo):
    results = run(klaviyo, private_api_key=READ_ONLY_KEY)
    assert results["authentication"].status == PASSED
    write = results["write_access"]
    assert write.status == FAILED
    assert write.error["code"] == "insufficient_permissions"
    assert write.message.startswith("The private key lacks the Profiles write scope (profiles:write)")
    assert "Profiles full access" in write.error["remediation"]
    assert results["list"].status == SKIPPED


def test_a_key_without_lists_write_fails_the_list_step(klaviyo):
    results = run(klaviyo, private_api_key=NO_LIST_WRITE_KEY)
    assert results["write_access"].status == PASSED
    assert results["list"].error["code"] == "insufficient_permissions"
    assert "(lists:write)" in results["list"].message
    assert "Lists full access" in results["list"].error["remediation"]
    assert klaviyo.list_members == []


def test_key_without_lists_scope_fails_the_list_step(klaviyo):
    result = run(klaviyo, private_api_key=PROFILES_ONLY_KEY)["list"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "permission_denied"
    assert "lists:read" in result.message
    assert "Lists" in result.error["remediation"]


def test_unknown_list_is_not_found(klaviyo):
    result = run(klaviyo, list_id="XyZ999")["list"]
    assert result.error["code"] == "not_found"
    assert "no list with id XyZ999" in result.message
    assert "A list with id XyZ999 does not exist" in result.message


def test_unpublished_revision_is_invalid_config(klaviyo):
    results = run(klaviyo, revision="2019-01-01")
    auth = results["authentication"]
    assert auth.error["code"] == "invalid_config"
    assert "revision 2019-01-01" in auth.message
    assert DEFAULT_REVISION in auth.error["remediation"]
    assert results["list"].status == SKIPPED


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "headers", "step", "code", "retry_after"),
    [
        ("accounts", 429, throttled(3), {"Retry-After": "3"}, "authentication", "rate_limited", 3),
        ("list", 429, throttled(1), {"Retry-After": "1"}, "list", "rate_limited", 1),
        (
            "accounts",
            500,
            {"errors": [{"status": 500, "code": "error", "title": "A server error occurred."}]},
            {},
            "authentication",
            "vendor_error",
            None,
        ),
        ("list", 503, "Service Unavailable", {}, "list", "vendor_error", None),
    ],
)
def test_vendor_errors_map_to_codes(klaviyo, endpoint, status, body, headers, step, code, retry_after):
    klaviyo.fail(endpoint, status, body, headers=headers)
    result = run(klaviyo)[step]
    assert result.status == FAILED
    assert result.error["code"] == code
    assert result.error["retryable"] is True
    assert result.error.get("retry_after") == retry_after
    assert FULL_KEY not in str(result.as_dict())


def test_slow_answer_times_out(klaviyo):
    klaviyo.slow("accounts", 1.0)
    connector = make(klaviyo)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields_without_echoing_the_key():
    errors = KlaviyoConnector.validate_config(
        {"private_api_key": "sk_secret_value", "revision": "v3", "list_id": "a/b"}
    )
    assert set(errors) == {"config.private_api_key", "config.revision", "config.list_id"}
    assert errors["config.private_api_key"] == ["Must be a Klaviyo private API key (starts with pk_)."]
    assert "sk_secret_value" not in str(errors)
    assert KlaviyoConnector.validate_config({})["config.private_api_key"] == ["This field is required."]
    assert KlaviyoConnector.validate_config(valid_config(None)) == {}


def test_fields_are_klaviyos_fixed_profile_schema(klaviyo):
    description = make(klaviyo).fields().as_dict()
    assert description["source"] == "static"
    assert description["object"] == "profile"
    fields = {f["name"]: f for f in description["fields"]}
    assert {n for n, f in fields.items() if f["identifier"]} == {"email", "phone_number", "external_id"}
    assert {"first_name", "location.city", "location.latitude", "properties"} <= set(fields)
    assert fields["properties"]["type"] == "object"
    assert fields["properties"]["data_type"] == "json"
    assert fields["location.latitude"]["data_type"] == "number"
    assert fields["email"]["unique"] is True and "unique" not in fields["first_name"]
    assert description["new_fields"] == "properties.*" and description["sync_modes"] == ["upsert"]
    assert not any(f["must_hash"] or f["required"] for f in fields.values())
    assert description["options"]["revision"] == "2026-10-15"
    assert klaviyo.calls == []


def test_the_docs_do_not_call_klaviyos_static_fields_live():
    readme = (Path(__file__).resolve().parents[2] / "docs" / "connectors.md").read_text()
    live = re.search(r"live from the vendor where it lists them \(([^)]*)\)", readme)
    assert live is not None
    assert "Klaviyo" not in live.group(1)
    assert "Klaviyo's profile attributes" in readme
