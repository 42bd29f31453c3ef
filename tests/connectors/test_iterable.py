import time

import pytest

from connectors.iterable import IterableConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.iterable import (
    JWT_KEY,
    LIST_ID,
    MOBILE_KEY,
    READ_ONLY_KEY,
    SERVER_KEY,
    IterableEmulator,
    valid_config,
)


@pytest.fixture(scope="module")
def server():
    with IterableEmulator() as running:
        yield running


@pytest.fixture
def iterable(server):
    server.reset()
    return server


def make(server, **overrides):
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"iterable": server.url})
    config = {**valid_config(server), **overrides}
    return IterableConnector({k: v for k, v in config.items() if v is not None}, policy=policy)


def run(server, **overrides):
    return {r.name: r for r in make(server, **overrides).test()}


def test_all_steps_pass_with_the_api_key_header(iterable):
    results = run(iterable)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert results["authentication"].message == (
        "Iterable (US data center) accepted the API key; the project has 11 user fields."
    )
    assert results["list"].details["list_id"] == LIST_ID
    assert results["list"].details["list_name"] == "Newsletter"
    assert results["list"].details["subscribe_http_status"] == 400
    assert results["write_access"].details["proven"] == ["POST /api/users/bulkUpdate (a server-side key)"]
    assert iterable.updated == iterable.subscribed == []  # the probes named nothing to write
    assert "Api-Key" not in iterable.calls_to("root")[0].headers
    for endpoint in ("get_fields", "lists"):
        [call] = iterable.calls_to(endpoint)
        assert call.headers["Api-Key"] == SERVER_KEY
        assert call.method == "GET"
        assert "api_key" not in call.query  # the key never goes in the URL


def test_without_a_list_the_list_step_says_so(iterable):
    result = run(iterable, list_id=None)["list"]
    assert result.status == PASSED
    assert "No list_id configured" in result.message
    assert "proven" not in result.details  # nothing was checked, so nothing is claimed
    assert not iterable.calls_to("lists")


def test_a_read_only_key_fails_the_write_check_naming_the_key_type(iterable):
    results = run(iterable, api_key=READ_ONLY_KEY)
    assert results["authentication"].status == PASSED
    write = results["write_access"]
    assert write.status == FAILED
    assert write.error["code"] == "insufficient_permissions"
    assert "may not call POST /api/users/bulkUpdate" in write.message
    assert "server-side API key" in write.error["remediation"]
    assert results["list"].status == SKIPPED
    assert iterable.updated == []


def test_a_key_that_may_update_but_not_subscribe_fails_the_list_step(iterable):
    iterable.api_keys["restricted000000000000000000000"] = "restricted"
    iterable.allowed["restricted"] = {"GET /api/users/getFields", "GET /api/lists", "POST /api/users/bulkUpdate"}
    results = run(iterable, api_key="restricted000000000000000000000")
    assert results["write_access"].status == PASSED
    assert results["list"].error["code"] == "insufficient_permissions"
    assert "POST /api/lists/subscribe" in results["list"].message


def test_an_empty_batch_answered_200_also_proves_the_write(iterable):
    iterable.fail("bulk_update", 200, {"successCount": 0, "failCount": 0})
    assert run(iterable)["write_access"].status == PASSED


@pytest.mark.parametrize(
    ("key", "code", "vendor_code", "hint"),
    [
        ("not-a-real-key-000", "auth_invalid", "BadApiKey", "data_center"),
        (JWT_KEY, "auth_invalid", "InvalidJwtPayload", "JWT"),
        (MOBILE_KEY, "insufficient_permissions", "Forbidden", "server-side key"),
    ],
)
def test_rejected_keys_fail_authentication(iterable, key, code, vendor_code, hint):
    results = run(iterable, api_key=key)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == code
    assert auth.error["vendor_code"] == vendor_code
    assert auth.error["http_status"] == 401
    assert auth.error["retryable"] is False
    assert hint in auth.error["remediation"]
    assert results["list"].status == SKIPPED
    assert key not in str([r.as_dict() for r in results.values()])


def test_unknown_list_is_not_found(iterable):
    result = run(iterable, list_id=999)["list"]
    assert result.error["code"] == "not_found"
    assert "no list with id 999" in result.message
    assert "Audience → Lists" in result.error["remediation"]


def test_dynamic_list_is_invalid_config(iterable):
    result = run(iterable, list_id=5678)["list"]
    assert result.error["code"] == "invalid_config"
    assert "Dynamic" in result.message


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "headers", "step", "code", "retry_after"),
    [
        (
            "get_fields",
            429,
            {"msg": "Exceeded rate limit.", "code": "RateLimitExceeded"},
            {"Retry-After": "60"},
            "authentication",
            "rate_limited",
            60,
        ),
        ("lists", 429, {"msg": "Exceeded rate limit.", "code": "RateLimitExceeded"}, {}, "list", "rate_limited", None),
        (
            "get_fields",
            500,
            {"msg": "Internal error", "code": "GenericError"},
            {},
            "authentication",
            "vendor_error",
            None,
        ),
        ("lists", 503, "<html>Service Unavailable</html>", {}, "list", "vendor_error", None),
        (
            "lists",
            400,
            {"msg": "Invalid parameters", "code": "BadParams", "params": None},
            {},
            "list",
            "invalid_config",
            None,
        ),
    ],
)
def test_vendor_errors_map_to_codes(iterable, endpoint, status, body, headers, step, code, retry_after):
    iterable.fail(endpoint, status, body, headers=headers)
    result = run(iterable)[step]
    assert result.status == FAILED
    assert result.error["code"] == code
    assert result.error.get("retry_after") == retry_after
    assert result.details["http_status"] == status
    if retry_after:
        assert f"retry in {retry_after}s" in result.error["remediation"]
    assert SERVER_KEY not in str(result.as_dict())


def test_slow_answer_times_out(iterable):
    iterable.slow("get_fields", 1.0)
    connector = make(iterable)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_data_center_picks_the_host():
    eu = IterableConnector({"api_key": "k", "data_center": "EU"})
    assert eu.api_url("/api/lists") == "https://api.eu.iterable.com/api/lists"
    assert IterableConnector({"api_key": "k", "data_center": "US"}).api_url("/").startswith("https://api.iterable")
    redirected = IterableConnector(
        {"api_key": "k", "data_center": "EU"}, policy=OutboundPolicy(base_urls={"iterable": "http://emu:1"})
    )
    assert redirected.api_url("/api/lists") == "http://emu:1/api/lists"


def test_config_validation_names_fields():
    errors = IterableConnector.validate_config({"data_center": "APAC", "list_id": "abc", "project_type": "x"})
    assert set(errors) == {"config.api_key", "config.data_center", "config.list_id", "config.project_type"}
    assert errors["config.data_center"] == ["Must be one of: US, EU."]
    assert IterableConnector.validate_config(valid_config(None)) == {}
    assert IterableConnector.secret_fields() == ["api_key"]


@pytest.mark.parametrize(
    ("project_type", "keys", "required"),
    [
        ("email_based", {"email"}, {"email"}),
        ("user_id_based", {"userId"}, {"userId"}),
        ("hybrid", {"email", "userId"}, set()),
    ],
)
def test_fields_are_live_with_sync_keys_by_project_type(iterable, project_type, keys, required):
    description = make(iterable, project_type=project_type).fields().as_dict()
    assert description["source"] == "live"
    fields = {f["name"]: f for f in description["fields"]}
    assert set(fields) == set(iterable.fields)
    assert {n for n, f in fields.items() if f["identifier"]} == keys
    assert {n for n, f in fields.items() if f["required"]} == required
    assert fields["lifetimeValue"]["type"] == "number"
    assert fields["orderCount"]["type"] == "integer"
    assert fields["lastOrderAt"]["type"] == "datetime"
    assert fields["address.city"]["updateable"] is True
    assert fields["emailListIds"]["updateable"] is False
    assert fields["devices.token"]["createable"] is False
    assert not any(f["must_hash"] for f in fields.values())
    assert description["options"]["sync_keys"] == sorted(keys)
    assert fields["lastOrderAt"]["data_type"] == "datetime" and fields["orderCount"]["data_type"] == "integer"
    assert all(fields[key]["unique"] is True for key in keys)
    assert description["new_fields"] == "*" and description["sync_modes"] == ["upsert"]


def test_fields_failure_raises(iterable):
    with pytest.raises(ConnectorError) as caught:
        make(iterable, api_key="nope-nope").fields()
    assert caught.value.code == "auth_invalid"
    assert "nope-nope" not in caught.value.message
