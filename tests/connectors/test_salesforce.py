import socket
import time
from urllib.parse import parse_qs

import pytest

from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.salesforce import SalesforceConnector
from tests.conftest import LOOPBACK
from tests.emulators.salesforce import (
    CLIENT_SECRET,
    EXPIRED_REFRESH_TOKEN,
    ORG_ID,
    REFRESH_TOKEN,
    USER_ID,
    SalesforceEmulator,
    valid_config,
)

SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, EXPIRED_REFRESH_TOKEN)


@pytest.fixture(scope="module")
def server():
    with SalesforceEmulator() as emulator:
        yield emulator


@pytest.fixture
def org(server):
    """One server per module (stopping one takes half a second); the org is restored for every test."""
    server.reset()
    return server


def run(config, policy):
    connector = SalesforceConnector(config, policy=policy)
    return {r.name: r for r in connector.test()}


def everything(results, org=None) -> str:
    text = str([r.as_dict() for r in results.values()])
    for secret in (*SECRETS, *(org.access_tokens if org else ())):
        assert secret not in text
    return text


def test_all_steps_pass_with_the_refresh_token_flow(org, policy):
    results = run(valid_config(org), policy)
    assert [r.status for r in results.values()] == [PASSED] * 3
    connectivity = results["connectivity"]
    assert connectivity.details["api_version"] == "66.0"
    assert "offers API version 66.0" in connectivity.message
    assert "Authorization" not in org.calls_to("versions")[0].headers  # the version list needs no auth

    auth = results["authentication"]
    assert auth.details["organization_id"] == ORG_ID
    assert auth.details["user_id"] == USER_ID
    assert auth.details["daily_api_requests"]["max"] == 15000
    assert auth.details["api_usage"] == {"used": 19, "limit": 15000}
    token_call = org.calls_to("token")[0]
    form = {k: v[0] for k, v in parse_qs(token_call.body.decode()).items()}
    assert form == {
        "grant_type": "refresh_token",
        "client_id": valid_config(org)["client_id"],
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    issued = next(iter(org.access_tokens))
    assert org.calls_to("limits")[0].headers["Authorization"] == f"Bearer {issued}"
    assert org.calls_to("limits")[0].path == "/services/data/v66.0/limits"

    obj = results["object"]
    assert obj.details["object"] == "Contact"
    assert obj.details["external_id_field"] == "Warehouse_Id__c"
    assert obj.details["api_usage"] == {"used": 20, "limit": 15000}
    assert "upserts match on Warehouse_Id__c" in obj.message
    assert org.calls_to("describe")[0].path == "/services/data/v66.0/sobjects/Contact/describe"
    everything(results, org)


def test_unoffered_api_version_fails_connectivity(org, policy):
    results = run({**valid_config(org), "api_version": "99.0"}, policy)
    connectivity = results["connectivity"]
    assert connectivity.error["code"] == "invalid_config"
    assert "does not offer REST API version 99.0" in connectivity.message
    assert connectivity.error["remediation"].startswith("Set api_version to 66.0")
    assert results["authentication"].status == SKIPPED
    assert results["object"].status == SKIPPED
    assert org.calls_to("token") == []


def test_a_host_that_is_not_salesforce_is_invalid_config(org, policy):
    org.fail("versions", 404, "<html>Not Found</html>")
    connectivity = run(valid_config(org), policy)["connectivity"]
    assert connectivity.error["code"] == "invalid_config"
    assert "My Domain URL" in connectivity.error["remediation"]


def test_expired_refresh_token_is_token_expired(org, policy):
    results = run({**valid_config(org), "refresh_token": EXPIRED_REFRESH_TOKEN}, policy)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "invalid_grant"
    assert auth.error["http_status"] == 400
    assert "expired access/refresh token" in auth.message
    assert "reconnect Salesforce" in auth.error["remediation"]
    assert results["object"].status == SKIPPED
    everything(results, org)


def test_unknown_refresh_token_is_auth_invalid(org, policy):
    results = run({**valid_config(org), "refresh_token": "not-a-refresh-token-we-issued"}, policy)
    auth = results["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert "authentication failure" in auth.message
    assert "not-a-refresh-token-we-issued" not in everything(results)


@pytest.mark.parametrize(
    ("field", "value", "vendor_code", "hint"),
    [
        ("client_id", "3MVG9-someone-elses-app", "invalid_client_id", "consumer key"),
        ("client_secret", "wrong-consumer-secret", "invalid_client", "consumer secret"),
    ],
)
def test_wrong_app_credentials_are_auth_invalid(org, policy, field, value, vendor_code, hint):
    results = run({**valid_config(org), field: value}, policy)
    auth = results["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == vendor_code
    assert hint in auth.error["remediation"]
    text = everything(results, org)
    if field == "client_secret":
        assert value not in text


def test_refused_session_is_auth_invalid(org, policy):
    org.fail("limits", 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    auth = run(valid_config(org), policy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "INVALID_SESSION_ID"
    assert "Session expired or invalid" in auth.message


def test_token_without_api_scope_is_insufficient_permissions(org, policy):
    org.refresh_tokens[REFRESH_TOKEN] = "refresh_token id"
    auth = run(valid_config(org), policy)["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert "without 'api'" in auth.message
    assert org.calls_to("limits") == []


def test_api_disabled_for_the_user_is_insufficient_permissions(org, policy):
    org.api_enabled = False
    results = run(valid_config(org), policy)
    auth = results["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert auth.error["vendor_code"] == "API_DISABLED_FOR_ORG"
    assert "API Enabled" in auth.error["remediation"]
    assert results["object"].status == SKIPPED


def test_limits_hidden_from_the_user_still_proves_the_token(org, policy):
    org.limits_visible = False
    results = run(valid_config(org), policy)
    assert results["authentication"].status == PASSED
    assert "not readable" in results["authentication"].details["limits"]
    assert results["object"].status == PASSED


def test_unknown_object_is_not_found(org, policy):
    results = run({**valid_config(org), "object": "Invoice__c", "external_id_field": "Id"}, policy)
    obj = results["object"]
    assert obj.error["code"] == "not_found"
    assert obj.error["vendor_code"] == "NOT_FOUND"
    assert obj.error["http_status"] == 404
    assert "describing Invoice__c" in obj.message
    assert "__c" in obj.error["remediation"]


def test_object_the_user_cannot_write_is_insufficient_permissions(org, policy):
    obj = run({**valid_config(org), "object": "LoginHistory", "external_id_field": "Id"}, policy)["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert "neither create nor edit" in obj.message


def test_external_id_field_must_exist_and_be_an_external_id(org, policy):
    missing = run({**valid_config(org), "external_id_field": "Erp_Key__c"}, policy)["object"]
    assert missing.error["code"] == "invalid_config"
    assert "no field Erp_Key__c" in missing.message
    plain = run({**valid_config(org), "external_id_field": "FirstName"}, policy)["object"]
    assert plain.error["code"] == "invalid_config"
    assert "not an External ID field" in plain.message
    by_id = run({**valid_config(org), "external_id_field": "id"}, policy)["object"]
    assert by_id.status == PASSED
    assert by_id.details["write_mode"] == "create_and_update_by_id"  # Id is not an upsert key for collections
    assert "external_id_field" not in by_id.details


@pytest.mark.parametrize("key", [None, "Id"])
def test_without_an_external_id_records_are_created_and_updated_by_id(org, policy, key):
    config = {k: v for k, v in valid_config(org).items() if k != "external_id_field"}
    if key:
        config["external_id_field"] = key
    obj = run(config, policy)["object"]
    assert obj.status == PASSED
    assert obj.details["write_mode"] == "create_and_update_by_id"
    assert not any("View All Data" in privilege for privilege in obj.details["proven"])  # no upsert, not needed
    assert "upserts match on" not in obj.message
    assert "collection upsert accepts External ID fields only" in obj.message
    assert "set external_id_field to Warehouse_Id__c" in obj.message
    assert obj.details["external_id_fields"] == ["Warehouse_Id__c", "Legacy_Key__c"]
    fields = SalesforceConnector(config, policy=policy).fields()
    assert fields.options["external_id_field"] is None
    assert fields.options["create"].startswith("POST /services/data/v66.0/composite/sobjects")
    assert fields.options["update"].startswith("PATCH /services/data/v66.0/composite/sobjects ")
    assert "/composite/sobjects/Contact/Id" not in str(fields.options)
    assert fields.options["upsert"].startswith("needs an External ID field")


def test_with_an_external_id_the_fields_advertise_the_collection_upsert(org, policy):
    fields = SalesforceConnector(valid_config(org), policy=policy).fields()
    assert fields.options["upsert"] == (
        "PATCH /services/data/v66.0/composite/sobjects/Contact/Warehouse_Id__c (up to 200 records per request)"
    )
    assert "create" not in fields.options


def test_fields_report_an_unserved_version_as_such(org, policy):
    with pytest.raises(ConnectorError) as caught:
        SalesforceConnector({**valid_config(org), "api_version": "99.0"}, policy=policy).fields()
    assert caught.value.code == "invalid_config"
    assert "does not offer REST API version 99.0" in caught.value.message
    assert org.calls_to("describe") == []


def test_a_retired_version_is_invalid_config(org, policy):
    org.fail("limits", 410, [{"errorCode": "GONE", "message": "This version of the API has been retired."}])
    auth = run(valid_config(org), policy)["authentication"]
    assert auth.error["code"] == "invalid_config"
    assert "retired API version 66.0" in auth.error["remediation"]


def test_request_limit_exceeded_is_rate_limited(org, policy):
    org.rate_limit("describe")
    obj = run(valid_config(org), policy)["object"]
    assert obj.error["code"] == "rate_limited"
    assert obj.error["http_status"] == 403
    assert obj.error["vendor_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert obj.error["retryable"] is True
    assert "TotalRequests Limit exceeded" in obj.message


def test_http_429_reports_retry_after(org, policy):
    org.fail(
        "describe",
        429,
        [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        headers={"Retry-After": "30"},
    )
    obj = run(valid_config(org), policy)["object"]
    assert obj.error["code"] == "rate_limited"
    assert obj.error["retry_after"] == 30
    assert "(retry after 30s)" in obj.message


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_vendor_errors(org, policy, status):
    org.server_error("describe", status)
    obj = run(valid_config(org), policy)["object"]
    assert obj.error["code"] == "vendor_error"
    assert obj.error["retryable"] is True


def test_token_endpoint_outage_is_vendor_error(org, policy):
    org.fail("token", 503, "<html>Service Unavailable</html>")
    results = run(valid_config(org), policy)
    assert results["authentication"].error["code"] == "vendor_error"
    assert results["object"].status == SKIPPED


def test_rotated_refresh_token_is_kept_for_the_caller_and_never_shown(org, policy):
    org.rotate_refresh_tokens = True
    connector = SalesforceConnector(valid_config(org), policy=policy)
    results = {r.name: r for r in connector.test()}
    auth = results["authentication"]
    assert auth.status == PASSED
    assert auth.details["refresh_token_rotated"] is True
    assert "rotated the refresh token" in auth.message
    rotated = connector.rotated_secrets["refresh_token"]
    assert rotated in org.refresh_tokens
    assert rotated not in everything(results, org)


def test_slow_answer_is_timeout(org, policy):
    org.slow("token", 1.0)
    connector = SalesforceConnector(valid_config(org), policy=policy)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True


def test_refused_connection_skips_the_rest(org, policy):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    results = run({**valid_config(org), "instance_url": url}, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert results["authentication"].status == SKIPPED


def test_fields_are_the_live_describe(org, policy):
    fields = SalesforceConnector(valid_config(org), policy=policy).fields()
    assert fields.source == "live"
    assert fields.object == "Contact"
    by_name = {f.name: f for f in fields.fields}
    assert "Name" not in by_name and "CreatedDate" not in by_name  # not createable nor updateable
    assert by_name["Id"].identifier is True
    assert by_name["Id"].createable is False
    assert by_name["Warehouse_Id__c"].identifier is True
    assert "External ID." in by_name["Warehouse_Id__c"].description
    assert by_name["Email"].identifier is False  # an Id lookup field, which the collection upsert does not take
    assert by_name["LastName"].required is True
    assert by_name["OwnerId"].required is False  # defaulted on create
    assert by_name["FirstName"].required is False
    assert by_name["Loyalty_Tier__c"].type == "picklist"
    assert "One of: Gold, Silver." in by_name["Loyalty_Tier__c"].description
    assert "Id of a related Account." in by_name["AccountId"].description
    assert fields.options["external_id_field"] == "Warehouse_Id__c"
    assert len(org.calls_to("token")) == 1  # describe_fields exchanges the refresh token itself


def test_fields_are_typed_with_what_each_accepts(org, policy):
    fields = SalesforceConnector(valid_config(org), policy=policy).fields()
    by_name = {f.name: f.as_dict() for f in fields.fields}
    assert by_name["Birthdate"]["data_type"] == "date" and by_name["Birthdate"]["type"] == "date"
    assert by_name["HasOptedOutOfEmail"]["data_type"] == "boolean"
    assert by_name["Email"]["data_type"] == "string" and by_name["Email"]["type"] == "email"
    assert by_name["LeadSource"]["data_type"] == "enum"
    assert by_name["LeadSource"]["choices"] == ["Web", "Phone Inquiry", "Partner Referral"]
    assert by_name["LastName"]["max_length"] == 80
    assert by_name["Id"]["unique"] is True
    assert by_name["Warehouse_Id__c"]["unique"] is True
    assert by_name["Legacy_Key__c"]["unique"] is False  # an External ID without 'Unique'
    assert "unique" not in by_name["FirstName"]  # not a key: Salesforce says nothing
    assert fields.sync_modes == ("insert", "update", "upsert")  # valid_config upserts on Warehouse_Id__c
    unkeyed = {k: v for k, v in valid_config(org).items() if k != "external_id_field"}
    assert SalesforceConnector(unkeyed, policy=policy).fields().sync_modes == ("insert", "update")


def test_fields_failure_raises_connector_error(org, policy):
    with pytest.raises(ConnectorError) as caught:
        SalesforceConnector({**valid_config(org), "object": "Nope__c"}, policy=policy).fields()
    assert caught.value.code == "not_found"


def test_config_validation_names_fields():
    errors = SalesforceConnector.validate_config(
        {"instance_url": "mycompany", "api_version": "v58", "object": "Contact/../x", "client_secret": ""}
    )
    assert set(errors) == {
        "config.instance_url",
        "config.api_version",
        "config.object",
        "config.client_id",
        "config.client_secret",
        "config.refresh_token",
    }
    example = {
        "instance_url": "https://mycompany.salesforce.com",
        "api_version": "58.0",
        "client_id": "3MVG9",
        "client_secret": "s",
        "refresh_token": "r",
    }
    assert SalesforceConnector.validate_config(example) == {}
    assert set(SalesforceConnector.secret_fields()) == {"client_secret", "refresh_token"}


# --- what the first sync's writes need ------------------------------------------------------------------


def test_a_passing_run_names_what_it_proved(org, policy):
    results = run(valid_config(org), policy)
    assert results["authentication"].details["proven"] == [SalesforceConnector.steps[1].proves[0].privilege]
    assert results["object"].details["proven"] == [r.privilege for r in SalesforceConnector.steps[2].proves]
    assert org.calls_to("query") == []  # Warehouse_Id__c is Unique: no permission needs reading


def test_a_user_who_may_create_but_not_edit_fails_the_object_step(org, policy):
    org.sobjects["Contact"]["updateable"] = False
    obj = run(valid_config(org), policy)["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert "may not edit Contact records" in obj.message
    assert obj.error["remediation"].startswith("Grant Edit on Contact")


def test_an_id_lookup_field_is_refused_as_the_upsert_key(org, policy):
    obj = run({**valid_config(org), "external_id_field": "Email"}, policy)["object"]
    assert obj.status == FAILED
    assert obj.error["code"] == "invalid_config"
    assert "Contact.Email is an Id lookup field, not an External ID" in obj.message
    assert "'External ID' and 'Unique'" in obj.error["remediation"]
    assert "leave external_id_field empty" in obj.error["remediation"]


def test_the_fields_offer_no_upsert_on_an_id_lookup_field(org, policy):
    fields = SalesforceConnector({**valid_config(org), "external_id_field": "Email"}, policy=policy).fields()
    assert "/composite/sobjects/Contact/Email" not in str(fields.options)
    assert fields.options["external_id_field"] is None
    assert fields.options["create"].startswith("POST /services/data/v66.0/composite/sobjects")


def test_a_non_unique_external_id_without_view_all_data_fails(org, policy):
    obj = run({**valid_config(org), "external_id_field": "Legacy_Key__c"}, policy)["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert "Legacy_Key__c is an External ID without 'Unique'" in obj.message
    assert "'View All Data', which this user lacks" in obj.message
    assert "Tick 'Unique' on Legacy_Key__c" in obj.error["remediation"]
    assert "grant the integration user 'View All Data'" in obj.error["remediation"]
    query = org.calls_to("query")[0]
    assert query.path == "/services/data/v66.0/query"
    assert query.query == {"q": "SELECT PermissionsViewAllData FROM UserPermissionAccess"}


def test_a_non_unique_external_id_passes_for_a_user_with_view_all_data(org, policy):
    org.view_all_data = True
    obj = run({**valid_config(org), "external_id_field": "Legacy_Key__c"}, policy)["object"]
    assert obj.status == PASSED
    assert obj.details["view_all_data"] is True
    assert "not Unique" in obj.message and "HTTP 300" in obj.message
    assert "unproven" not in obj.details


def test_api_versions_below_41_are_warned_about(org, policy):
    connectivity = run({**valid_config(org), "api_version": "40.0"}, policy)["connectivity"]
    assert connectivity.status == PASSED
    assert "Warning: version 40.0 goes unsupported in Summer '27" in connectivity.message
    assert "set api_version to 66.0" in connectivity.message
    assert "retired (HTTP 410) from Summer '28" in connectivity.details["api_version_warning"]
    assert "api_version_warning" not in run(valid_config(org), policy)["connectivity"].details


def test_view_all_data_unreadable_before_41_is_reported_unproven(org, policy):
    config = {**valid_config(org), "api_version": "40.0", "external_id_field": "Legacy_Key__c"}
    obj = run(config, policy)["object"]
    assert obj.status == PASSED
    (unproven,) = obj.details["unproven"]
    assert unproven["privilege"].startswith("View All Data")
    assert "HTTP 400 INVALID_TYPE" in unproven["reason"] and "41.0" in unproven["reason"]
    assert obj.details["proven"] == ["Create and Edit on the sObject"]
    assert "Not proven before the first sync: View All Data" in obj.message


def test_a_salesforce_login_host_goes_to_the_operators_base_url(org):
    """CONNECTOR_BASE_URLS["salesforce"] stands in for Salesforce's login servers, as in the OAuth flow."""
    redirected = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"salesforce": org.url})
    for login_url in ("https://test.salesforce.com", "https://mycompany.my.salesforce.com", None):
        config = {**valid_config(org), "login_url": login_url}
        assert run(config, redirected)["authentication"].status == PASSED
    assert len(org.calls_to("token")) == 3
    assert SalesforceConnector.describe_type()["default_base_url"] == "https://login.salesforce.com"


def test_a_login_url_that_is_no_salesforce_login_host_is_used_as_given(org, policy):
    elsewhere = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"salesforce": "http://10.9.9.9"})
    assert run(valid_config(org), elsewhere)["authentication"].status == PASSED  # login_url is the emulator
    connector = SalesforceConnector({**valid_config(org), "login_url": "https://sso.example.com"}, policy=elsewhere)
    assert connector.token_url() == "https://sso.example.com/services/oauth2/token"


def test_view_all_data_refused_to_read_is_unproven_and_an_outage_fails(org, policy):
    config = {**valid_config(org), "external_id_field": "Legacy_Key__c"}
    org.fail("query", 403, [{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}], times=1)
    (unproven,) = run(config, policy)["object"].details["unproven"]
    assert "HTTP 403 INSUFFICIENT_ACCESS)" in unproven["reason"] and "41.0" not in unproven["reason"]
    org.server_error("query", 503)
    obj = run(config, policy)["object"]
    assert obj.error["code"] == "vendor_error" and obj.error["retryable"] is True
    assert "reading the user's permissions" in obj.message
