import json
import time

import pytest

from connectors.braze import PROBE_PREFIX, BrazeConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from destinations.config import mask_config
from tests.conftest import LOOPBACK
from tests.emulators.braze import READ_ONLY_KEY, VALID_KEY, BrazeEmulator, custom_attribute, valid_config


@pytest.fixture(scope="module")
def server():
    with BrazeEmulator() as running:
        yield running


@pytest.fixture
def braze(server):
    server.reset()
    return server


def make(server, **overrides):
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"braze": server.url})
    return BrazeConnector({**valid_config(server), **overrides}, policy=policy)


def run(server, **overrides):
    return {r.name: r for r in make(server, **overrides).test()}


def test_all_steps_pass_and_the_write_probe_creates_nothing(braze):
    users_before = dict(braze.users)
    results = run(braze)
    assert [r.status for r in results.values()] == [PASSED, PASSED, PASSED]
    assert "rest.iad-01.braze.com" in results["authentication"].message
    assert results["authentication"].details == {"custom_attributes": "3", "permission": "custom_attributes.get"}
    assert "no profile was created" in results["write_access"].message
    assert results["write_access"].details["probe_external_id"].startswith(PROBE_PREFIX)

    root = braze.calls_to("root")[0]
    assert "Authorization" not in root.headers
    assert braze.calls_to("custom_attributes")[0].headers["Authorization"] == f"Bearer {VALID_KEY}"
    track = braze.calls_to("users_track")[0]
    assert track.headers["Authorization"] == f"Bearer {VALID_KEY}"
    [probe] = json.loads(track.body)["attributes"]
    assert probe["_update_existing_only"] is True
    assert set(probe) == {"external_id", "_update_existing_only"}
    assert braze.users == users_before


def test_unknown_key_fails_authentication_without_echoing_it(braze):
    secret = "11111111-2222-3333-4444-555555555555"
    results = run(braze, api_key=secret)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["retryable"] is False
    assert "custom_attributes.get" in auth.error["remediation"]
    assert "Invalid API key: ********" in auth.message
    assert results["write_access"].status == SKIPPED
    assert secret not in str([r.as_dict() for r in results.values()])


@pytest.mark.parametrize("denied_status", [403, 401])
def test_key_without_users_track_fails_write_access(braze, denied_status):
    braze.denied_status = denied_status
    results = run(braze, api_key=READ_ONLY_KEY)
    assert results["authentication"].status == PASSED
    write = results["write_access"]
    assert write.error["code"] == "insufficient_permissions"
    assert "users.track" in write.message and "users.track" in write.error["remediation"]
    assert READ_ONLY_KEY not in str(write.as_dict())
    assert braze.calls_to("users_track")
    assert "account manager" not in write.error["remediation"]


def test_access_denied_names_the_permission_and_forbidden_the_rate_plan(braze):
    braze.api_keys[READ_ONLY_KEY] = set()
    auth = run(braze, api_key=READ_ONLY_KEY)["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert auth.message.startswith("The REST API key lacks the custom_attributes.get permission")
    assert "add custom_attributes.get" in auth.error["remediation"]
    assert "account manager" not in auth.error["remediation"]
    braze.fail("custom_attributes", 403, {"message": "Forbidden"})
    auth = run(braze)["authentication"]
    assert "rate plan" in auth.message and "account manager" in auth.error["remediation"]


def test_the_write_step_declares_users_track_proven(braze):
    assert run(braze)["write_access"].details["proven"] == ["users.track"]


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "step", "code", "retryable", "hint"),
    [
        (
            "custom_attributes",
            403,
            {"message": "Forbidden"},
            "authentication",
            "insufficient_permissions",
            False,
            "account manager",
        ),
        ("custom_attributes", 404, {"message": "Not Found"}, "authentication", "auth_invalid", False, "rest_endpoint"),
        ("custom_attributes", 500, {"message": "Internal Server Error"}, "authentication", "vendor_error", True, ""),
        (
            "users_track",
            400,
            {"message": "Bad Request", "errors": ["Invalid attributes"]},
            "write_access",
            "invalid_config",
            False,
            "",
        ),
        ("users_track", 502, "<html>Bad Gateway</html>", "write_access", "vendor_error", True, ""),
    ],
)
def test_documented_errors_map_to_codes(braze, endpoint, status, body, step, code, retryable, hint):
    braze.fail(endpoint, status, body)
    results = run(braze)
    failed = results[step]
    assert failed.status == FAILED
    assert failed.error["code"] == code
    assert failed.error["retryable"] is retryable
    assert failed.error["http_status"] == status
    assert hint in failed.error["remediation"]
    if step == "authentication":
        assert results["write_access"].status == SKIPPED
    assert VALID_KEY not in str(failed.as_dict())


def test_rate_limit_reports_retry_after(braze):
    braze.fail("custom_attributes", 429, {"message": "Rate Limited"}, headers={"Retry-After": "30"})
    auth = run(braze)["authentication"]
    assert auth.error["code"] == "rate_limited"
    assert auth.error["retryable"] is True
    assert auth.error["retry_after"] == 30
    assert "1,000 requests/hour" in auth.message


def test_rate_limit_reset_header_becomes_retry_after(braze):
    reset = int(time.time()) + 120
    braze.fail("users_track", 429, {"message": "Rate Limited"}, headers={"X-RateLimit-Reset": str(reset)})
    write = run(braze)["write_access"]
    assert write.error["code"] == "rate_limited"
    assert 100 <= write.error["retry_after"] <= 121
    assert "retry in" in write.error["remediation"]


def test_slow_answer_times_out(braze):
    braze.slow("custom_attributes", 1.0)
    connector = make(braze)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True


def test_connection_refused_skips_the_rest():
    with BrazeEmulator() as server:
        connector = make(server)
    results = {r.name: r for r in connector.test()}
    assert results["connectivity"].error["code"] == "connection_refused"
    assert results["authentication"].status == SKIPPED
    assert results["write_access"].status == SKIPPED


def test_urls_come_from_the_configured_instance():
    connector = BrazeConnector({**valid_config(None), "rest_endpoint": "https://rest.fra-01.braze.eu/"})
    assert connector.api_url("/users/track") == "https://rest.fra-01.braze.eu/users/track"
    redirected = BrazeConnector(valid_config(None), policy=OutboundPolicy(base_urls={"braze": "http://sandbox:8080"}))
    assert redirected.api_url("/custom_attributes") == "http://sandbox:8080/custom_attributes"


def test_config_validation_names_fields_and_hides_the_key():
    errors = BrazeConnector.validate_config(
        {"rest_endpoint": "https://evil.example.com", "api_key": "", "identifier_type": "user_id", "x": 1}
    )
    assert set(errors) == {"config.rest_endpoint", "config.api_key", "config.identifier_type", "config.x"}
    assert errors["config.rest_endpoint"] == ["Must be a Braze REST endpoint, e.g. https://rest.iad-01.braze.com."]
    assert BrazeConnector.validate_config({})["config.api_key"] == ["This field is required."]
    assert BrazeConnector.validate_config(valid_config(None)) == {}
    assert mask_config(BrazeConnector, valid_config(None))["api_key"] == "********"


def test_fields_are_live_standard_plus_every_custom_attribute_page(braze):
    braze.custom_attributes += [custom_attribute(f"attr_{n:02}", "Number") for n in range(60)]
    description = make(braze, identifier_type="email").fields().as_dict()
    assert description["source"] == "live"
    assert description["object"] == "user"
    fields = {f["name"]: f for f in description["fields"]}
    calls = braze.calls_to("custom_attributes")
    assert len(calls) == 2
    assert calls[1].query == {"cursor": "50"}
    assert {"attr_00", "attr_59", "favorite_color", "first_name", "dob"} <= set(fields)
    assert fields["lifetime_value"]["type"] == "number"
    assert fields["old_segment"]["createable"] is False
    assert "Blocklisted" in fields["old_segment"]["description"]
    assert {n for n, f in fields.items() if f["identifier"]} == {
        "external_id",
        "user_alias",
        "braze_id",
        "email",
        "phone",
    }
    assert fields["email"]["required"] is True and fields["external_id"]["required"] is False
    assert fields["braze_id"]["createable"] is False
    assert not any(f["must_hash"] for f in fields.values())
    assert description["options"]["identifier_type"] == "email"
    assert description["options"]["batch_size"] == 75


def test_fields_are_typed_and_say_what_they_accept(braze):
    description = make(braze).fields().as_dict()
    fields = {f["name"]: f for f in description["fields"]}
    assert fields["dob"]["data_type"] == "date"
    assert fields["date_of_first_session"]["data_type"] == "datetime"
    assert fields["current_location"]["data_type"] == "json"
    assert fields["gender"]["data_type"] == "enum" and fields["gender"]["choices"] == ["M", "F", "O", "N", "P"]
    assert fields["lifetime_value"]["data_type"] == "number"
    assert fields["favorite_color"]["max_length"] == 255  # Braze keeps 255 characters of a custom string
    assert fields["external_id"]["unique"] is True
    assert description["new_fields"] == "*"
    assert description["sync_modes"] == ["upsert", "update"]


def test_fields_failure_raises_connector_error(braze):
    braze.fail("custom_attributes", 429, {"message": "Rate Limited"}, headers={"Retry-After": "5"})
    with pytest.raises(ConnectorError) as caught:
        make(braze).fields()
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 5
