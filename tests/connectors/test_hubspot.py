import json
import socket
import time
from urllib.parse import parse_qs

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.hubspot import (
    CLIENT_ID,
    CLIENT_SECRET,
    EXPIRED_TOKEN,
    PORTAL_ID,
    SERVICE_KEY,
    VALID_TOKEN,
    HubSpotEmulator,
    scopes_for,
    unique_property,
    valid_config,
)


@pytest.fixture(scope="module")
def server():
    with HubSpotEmulator() as emulator:
        yield emulator


@pytest.fixture
def hubspot(server):
    """One server per module (stopping one takes half a second); its state is restored for every test."""
    server.reset()
    return server


@pytest.fixture
def redirected(hubspot):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"hubspot": hubspot.url})


def run(config, policy):
    return {r.name: r for r in HubSpotConnector(config, policy=policy).test()}


def everything(results) -> str:
    return str([r.as_dict() for r in results.values()])


def test_all_steps_pass_and_send_the_bearer_token(hubspot, redirected):
    results = run(valid_config(hubspot), redirected)
    assert [r.status for r in results.values()] == [PASSED] * 3
    assert results["connectivity"].details["http_status"] == 404
    assert "Authorization" not in hubspot.calls_to("root")[0].headers
    auth = results["authentication"]
    assert f"portal {PORTAL_ID}" in auth.message
    assert auth.details["portal_id"] == PORTAL_ID
    assert auth.details["account_type"] == "STANDARD"
    assert auth.details["data_hosting_location"] == "eu1"
    assert auth.details["rate_limit"]["daily_limit"] == 500000
    obj = results["object"]
    assert obj.details["id_property"] == "email"
    assert obj.details["property_count"] == 12
    for call in hubspot.calls_to("account") + hubspot.calls_to("properties"):
        assert call.headers["Authorization"] == f"Bearer {VALID_TOKEN}"
    assert hubspot.calls_to("account")[0].path == "/account-info/2026-03/details"
    assert hubspot.calls_to("properties")[0].path == "/crm/properties/2026-03/contacts"
    assert hubspot.calls_to("properties")[0].query == {"archived": "false"}
    assert VALID_TOKEN not in everything(results)


def test_custom_object_and_unique_id_property(hubspot, redirected):
    results = run(
        {"access_token": VALID_TOKEN, "object_type": "2-1234567", "id_property": "machine_serial"}, redirected
    )
    assert results["object"].status == PASSED
    assert "'machine_serial'" in results["object"].message
    default_key = run({"access_token": VALID_TOKEN, "object_type": "2-1234567"}, redirected)["object"]
    assert default_key.status == PASSED
    assert default_key.details["id_property"] == "machine_serial"  # its only property with unique values


@pytest.mark.parametrize("object_type", ["companies", "deals", "tickets"])
def test_without_a_unique_property_the_object_step_says_how_to_create_one(hubspot, redirected, object_type):
    obj = run({"access_token": VALID_TOKEN, "object_type": object_type}, redirected)["object"]
    assert obj.status == FAILED
    assert obj.error["code"] == "invalid_config"
    assert "no property with unique values" in obj.message
    assert "hs_object_id" in obj.message  # the record ID is not offered instead
    assert "Require unique values" in obj.error["remediation"]
    assert f"/crm/properties/2026-03/{object_type}" in obj.error["remediation"]


def test_the_only_unique_property_becomes_the_default_key(hubspot, redirected):
    hubspot.objects["companies"].append(unique_property("erp_company_id", "ERP company ID"))
    obj = run({"access_token": VALID_TOKEN, "object_type": "companies"}, redirected)["object"]
    assert obj.status == PASSED
    assert obj.details["id_property"] == "erp_company_id"
    assert "'erp_company_id'" in obj.message


def test_several_unique_properties_are_named_when_none_is_chosen(hubspot, redirected):
    hubspot.objects["deals"] += [unique_property("erp_deal_id", "ERP"), unique_property("crm_deal_key", "CRM")]
    obj = run({"access_token": VALID_TOKEN, "object_type": "deals"}, redirected)["object"]
    assert obj.error["code"] == "invalid_config"
    assert obj.error["remediation"] == "Set id_property to one of: crm_deal_key, erp_deal_id."
    assert obj.details["unique_properties"] == ["crm_deal_key", "erp_deal_id"]
    chosen = run({"access_token": VALID_TOKEN, "object_type": "deals", "id_property": "erp_deal_id"}, redirected)
    assert chosen["object"].status == PASSED


def test_hs_object_id_is_refused_as_the_upsert_key(hubspot, redirected):
    hubspot.objects["companies"].append(unique_property("erp_company_id", "ERP company ID"))
    config = {"access_token": VALID_TOKEN, "object_type": "companies", "id_property": "hs_object_id"}
    obj = run(config, redirected)["object"]
    assert obj.error["code"] == "invalid_config"
    assert "record ID" in obj.message
    assert obj.error["remediation"] == "Set id_property to one of: erp_company_id."


def test_unknown_token_is_auth_invalid(hubspot, redirected):
    results = run({**valid_config(hubspot), "access_token": "pat-na1-wrong-token-value"}, redirected)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["http_status"] == 401
    assert auth.error["vendor_code"] == "INVALID_AUTHENTICATION"
    assert "Service Key" in auth.error["remediation"]
    assert "Development › Keys › Service keys" in auth.error["remediation"]
    assert results["object"].status == SKIPPED
    assert "pat-na1-wrong-token-value" not in everything(results)


def test_expired_oauth_token_is_token_expired(hubspot, redirected):
    results = run({**valid_config(hubspot), "access_token": EXPIRED_TOKEN}, redirected)
    auth = results["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "EXPIRED_AUTHENTICATION"
    assert "expired 2 hour(s) ago" in auth.message
    assert EXPIRED_TOKEN not in everything(results)


def test_missing_scope_names_the_required_scopes(hubspot, redirected):
    hubspot.tokens["pat-na1-companies-only"] = {"crm.objects.companies.read", "crm.schemas.companies.read"}
    results = run({"access_token": "pat-na1-companies-only", "object_type": "contacts"}, redirected)
    assert results["authentication"].status == PASSED
    obj = results["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert obj.error["vendor_code"] == "MISSING_SCOPES"
    assert obj.error["retryable"] is False
    assert "crm.objects.contacts.read" in obj.message
    assert "crm.objects.contacts.read or crm.schemas.contacts.read" in obj.error["remediation"]
    assert "to the Service Key" in obj.error["remediation"]
    assert obj.details["required_scopes"] == ["crm.objects.contacts.read", "crm.schemas.contacts.read"]
    assert "pat-na1-companies-only" not in everything(results)


def test_unknown_object_type_is_not_found(hubspot, redirected):
    results = run({**valid_config(hubspot), "object_type": "widgets"}, redirected)
    obj = results["object"]
    assert obj.error["code"] == "not_found"
    assert obj.error["http_status"] == 404
    assert "Unable to infer object type from: widgets" in obj.message
    assert "2-" in obj.error["remediation"]


def test_legacy_400_for_an_unknown_object_type_is_not_found(hubspot, redirected):
    hubspot.fail("properties", 400, {"status": "error", "message": "Unable to infer object type from: widgets"})
    results = run(valid_config(hubspot), redirected)
    assert results["object"].error["code"] == "not_found"


def test_id_property_must_exist_and_be_unique(hubspot, redirected):
    missing = run({**valid_config(hubspot), "id_property": "warehouse_key"}, redirected)["object"]
    assert missing.error["code"] == "invalid_config"
    assert "no property named 'warehouse_key'" in missing.message
    not_unique = run({**valid_config(hubspot), "id_property": "firstname"}, redirected)["object"]
    assert not_unique.error["code"] == "invalid_config"
    assert "does not require unique values" in not_unique.message
    unique = run({**valid_config(hubspot), "id_property": "customer_id"}, redirected)["object"]
    assert unique.status == PASSED


def test_rate_limit_reports_retry_after(hubspot, redirected):
    hubspot.rate_limit("properties", retry_after=10)
    obj = run(valid_config(hubspot), redirected)["object"]
    assert obj.error["code"] == "rate_limited"
    assert obj.error["retryable"] is True
    assert obj.error["retry_after"] == 10
    assert obj.error["vendor_code"] == "RATE_LIMITS"
    assert "secondly limit" in obj.message
    assert "(retry after 10s)" in obj.message
    assert obj.error["remediation"].startswith("HubSpot's secondly rate limit")
    assert obj.error["remediation"].endswith("retry in 10s.")


def test_server_error_is_vendor_error(hubspot, redirected):
    hubspot.server_error("account", 502)
    results = run(valid_config(hubspot), redirected)
    assert results["authentication"].error["code"] == "vendor_error"
    assert results["authentication"].error["retryable"] is True
    assert results["object"].status == SKIPPED


def test_scope_refusal_on_account_details_still_proves_the_token(hubspot, redirected):
    hubspot.fail("account", 403, {"status": "error", "message": "missing scopes", "category": "MISSING_SCOPES"})
    results = run(valid_config(hubspot), redirected)
    assert results["authentication"].status == PASSED
    assert "MISSING_SCOPES" in results["authentication"].message
    assert results["object"].status == PASSED


def test_slow_answer_is_timeout(hubspot, redirected):
    hubspot.slow("account", 1.0)
    connector = HubSpotConnector(valid_config(hubspot), policy=redirected)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True


def test_without_the_base_url_override_the_real_host_is_used(policy):
    connector = HubSpotConnector(valid_config(None), policy=policy)
    assert connector.vendor_url("https://api.hubapi.com/x") == "https://api.hubapi.com/x"


def test_refused_connection_skips_the_rest(policy):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    gone = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"hubspot": url})
    results = run(valid_config(None), gone)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert results["authentication"].status == SKIPPED
    assert results["object"].status == SKIPPED


def test_fields_are_the_live_mappable_properties(hubspot, redirected):
    fields = HubSpotConnector(valid_config(hubspot), policy=redirected).fields()
    assert fields.source == "live"
    assert fields.object == "contacts"
    by_name = {f.name: f for f in fields.fields}
    # read-only and calculated properties are not mappable; hs_object_id is never offered as a sync key
    assert "createdate" not in by_name
    assert "hs_analytics_num_visits" not in by_name
    assert "hs_object_id" not in by_name
    assert by_name["email"].identifier is True
    assert by_name["customer_id"].identifier is True
    assert by_name["firstname"].identifier is False
    assert by_name["firstname"].createable is True
    assert by_name["lifecyclestage"].type == "enumeration"
    assert "One of: subscriber, lead, customer." in by_name["lifecyclestage"].description
    assert fields.options["id_property"] == "email"
    assert fields.options["upsert"].startswith("POST /crm/objects/2026-03/contacts/batch/upsert")


def test_required_properties_of_deals_and_tickets(hubspot, redirected):
    deals = HubSpotConnector({"access_token": VALID_TOKEN, "object_type": "deals"}, policy=redirected).fields()
    assert {f.name for f in deals.fields if f.required} == {"dealname", "dealstage"}
    assert not any(f.identifier for f in deals.fields)
    assert deals.options["id_property"] is None  # no unique property yet: the object step says how to add one
    tickets = HubSpotConnector({"access_token": VALID_TOKEN, "object_type": "tickets"}, policy=redirected).fields()
    assert {f.name for f in tickets.fields if f.required} == {"subject", "hs_pipeline_stage"}
    contacts = HubSpotConnector(valid_config(hubspot), policy=redirected).fields()
    assert not any(f.required for f in contacts.fields)


def test_setup_text_asks_for_a_service_key():
    described = HubSpotConnector.describe_type()
    assert "Service Key" in described["auth_method"]
    assert "Service Key" in described["config_schema"]["description"]
    assert "private app" in described["config_schema"]["description"]  # an existing token still works
    assert "Service Key" in described["config_schema"]["properties"]["access_token"]["description"]


def test_fields_are_typed_with_their_options(hubspot, redirected):
    fields = HubSpotConnector(valid_config(hubspot), policy=redirected).fields()
    by_name = {f.name: f.as_dict() for f in fields.fields}
    assert by_name["customer_since"]["data_type"] == "date"
    assert by_name["customer_vip"]["data_type"] == "boolean" and by_name["customer_vip"]["type"] == "bool"
    assert by_name["lifecyclestage"]["data_type"] == "enum"
    assert by_name["lifecyclestage"]["choices"] == ["subscriber", "lead", "customer"]
    assert by_name["customer_interests"]["data_type"] == "array"  # checkboxes: several options
    assert by_name["customer_id"]["unique"] is True and by_name["email"]["unique"] is True
    assert by_name["firstname"]["unique"] is False
    assert fields.sync_modes == ("insert", "update", "upsert")


def test_fields_failure_raises_connector_error(hubspot, redirected):
    hubspot.fail(
        "properties",
        403,
        {
            "status": "error",
            "message": "no",
            "category": "MISSING_SCOPES",
            "errors": [{"context": {"requiredGranularScopes": ["crm.schemas.contacts.read"]}}],
        },
    )
    with pytest.raises(ConnectorError) as caught:
        HubSpotConnector(valid_config(hubspot), policy=redirected).fields()
    assert caught.value.code == "insufficient_permissions"
    assert "crm.schemas.contacts.read" in caught.value.message


def test_config_validation_names_fields():
    errors = HubSpotConnector.validate_config({"object_type": "../contacts", "id_property": "a b", "token": "x"})
    assert set(errors) == {"config.access_token", "config.object_type", "config.id_property", "config.token"}
    assert HubSpotConnector.secret_fields() == ["access_token", "client_secret", "refresh_token"]
    assert HubSpotConnector.validate_config(valid_config(None)) == {}


def oauth_config(hubspot, scopes) -> dict:
    hubspot.refresh_tokens["na1-refresh"] = set(scopes)
    return {
        "access_token": EXPIRED_TOKEN,
        "refresh_token": "na1-refresh",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "object_type": "contacts",
    }


def test_a_public_apps_refresh_token_is_exchanged_first_and_the_new_access_token_kept(hubspot, redirected):
    hubspot.refresh_tokens["na1-refresh"] = {*scopes_for("contacts"), "crm.objects.contacts.write"}
    config = {
        "access_token": EXPIRED_TOKEN,
        "refresh_token": "na1-refresh",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "object_type": "contacts",
    }
    connector = HubSpotConnector(config, policy=redirected)
    results = {r.name: r for r in connector.test()}
    assert [r.status for r in results.values()] == [PASSED, PASSED, PASSED], everything(results)
    fresh = connector.rotated_secrets["access_token"]
    assert fresh in hubspot.tokens and fresh not in everything(results)
    token_calls = hubspot.calls_to("token")
    assert len(token_calls) == 1 and b"grant_type=refresh_token" in token_calls[0].body
    # the v1 endpoint goes on 16 February 2027; renewal uses the date-versioned one, with a form body
    assert token_calls[0].path == "/oauth/2026-03/token"
    assert token_calls[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_revoked_refresh_token_is_token_expired(hubspot, redirected):
    config = {"access_token": EXPIRED_TOKEN, "refresh_token": "na1-gone", "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET}  # fmt: skip
    results = run(config, redirected)
    auth = results["authentication"]
    assert auth.status == FAILED and auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "BAD_REFRESH_TOKEN" and "na1-gone" not in everything(results)


def test_a_refresh_refused_with_only_the_rfc_6749_fields_is_still_token_expired(hubspot, redirected):
    hubspot.fail("token", 400, {"error": "invalid_grant", "error_description": "refresh token is invalid"})
    auth = run(oauth_config(hubspot, scopes_for("contacts")), redirected)["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "invalid_grant"
    assert "re-authorise HubSpot" in auth.error["remediation"]


# --- the write scope ------------------------------------------------------------------------------------


def test_a_key_that_may_only_read_fails_the_object_step_naming_the_write_scope(hubspot, redirected):
    hubspot.tokens["pat-na1-read-only"] = set(scopes_for("contacts"))
    results = run({"access_token": "pat-na1-read-only", "object_type": "contacts"}, redirected)
    obj = results["object"]
    assert obj.status == FAILED
    assert obj.error["code"] == "insufficient_permissions"
    assert "lacks the scope crm.objects.contacts.write" in obj.message
    assert "Add crm.objects.contacts.write to the Service Key's scopes" in obj.error["remediation"]
    assert "Development › Keys › Service keys" in obj.error["remediation"]
    assert obj.details["required_scopes"] == ["crm.objects.contacts.write"]
    info = hubspot.calls_to("token_info")[0]
    assert info.path == "/oauth/v2/private-apps/get/access-token-info"
    assert json.loads(info.body) == {"tokenKey": "pat-na1-read-only"}
    assert "pat-na1-read-only" not in everything(results)


def test_a_private_app_token_with_the_write_scope_proves_it(hubspot, redirected):
    obj = run(valid_config(hubspot), redirected)["object"]
    assert obj.status == PASSED
    assert obj.details["write_scope"] == "crm.objects.contacts.write"
    assert obj.details["proven"] == [HubSpotConnector.steps[2].proves[0].privilege]
    assert "unproven" not in obj.details
    assert "holds crm.objects.contacts.write" in obj.message


def test_a_custom_object_needs_crm_objects_custom_write(hubspot, redirected):
    hubspot.tokens["pat-na1-contacts-writer"] = {*scopes_for("2-1234567"), "crm.objects.contacts.write"}
    config = {"access_token": "pat-na1-contacts-writer", "object_type": "2-1234567"}
    obj = run(config, redirected)["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert "lacks the scope crm.objects.custom.write" in obj.message
    hubspot.tokens["pat-na1-contacts-writer"].add("crm.objects.custom.write")
    assert run(config, redirected)["object"].details["write_scope"] == "crm.objects.custom.write"


def test_tickets_may_be_written_with_the_older_tickets_scope(hubspot, redirected):
    hubspot.objects["tickets"].append(unique_property("erp_ticket_id", "ERP ticket", group="ticketinformation"))
    hubspot.tokens["pat-na1-tickets"] = {*scopes_for("tickets"), "tickets"}
    obj = run({"access_token": "pat-na1-tickets", "object_type": "tickets"}, redirected)["object"]
    assert obj.status == PASSED
    assert obj.details["write_scope"] == "tickets"


def test_an_oauth_token_is_introspected_and_a_missing_write_scope_fails(hubspot, redirected):
    results = run(oauth_config(hubspot, scopes_for("contacts")), redirected)
    obj = results["object"]
    assert obj.error["code"] == "insufficient_permissions"
    assert "crm.objects.contacts.write" in obj.message
    assert "public app's scopes (then reconnect)" in obj.error["remediation"]
    call = hubspot.calls_to("introspect")[0]
    assert call.path == "/oauth/2026-03/token/introspect"
    form = {k: v[0] for k, v in parse_qs(call.body.decode()).items()}
    assert form["client_id"] == CLIENT_ID and form["client_secret"] == CLIENT_SECRET
    assert form["token_type_hint"] == "access_token"
    assert form["token"] in hubspot.oauth_tokens  # the renewed token, not the expired one
    assert hubspot.calls_to("token_info") == []
    assert CLIENT_SECRET not in everything(results)


def test_an_oauth_token_with_the_write_scope_is_proven(hubspot, redirected):
    obj = run(oauth_config(hubspot, {*scopes_for("contacts"), "crm.objects.contacts.write"}), redirected)["object"]
    assert obj.status == PASSED
    assert obj.details["write_scope"] == "crm.objects.contacts.write"


def test_introspection_refusing_the_app_credentials_is_auth_invalid(hubspot, redirected):
    hubspot.fail("introspect", 400, {"error": "invalid_client", "status": "BAD_CLIENT_ID", "message": "bad client"})
    obj = run(oauth_config(hubspot, scopes_for("contacts")), redirected)["object"]
    assert obj.error["code"] == "auth_invalid"
    assert "introspecting the OAuth access token" in obj.message


def test_a_service_keys_write_scope_is_reported_unproven_not_passed(hubspot, redirected):
    obj = run({"access_token": SERVICE_KEY, "object_type": "contacts"}, redirected)["object"]
    assert obj.status == PASSED
    assert "proven" not in obj.details
    (unproven,) = obj.details["unproven"]
    assert unproven["privilege"].startswith("crm.objects.<type>.write")
    assert "no way to list a Service Key's scopes" in unproven["reason"]
    assert "Development › Keys › Service keys" in unproven["grant"]
    assert "Not proven before the first sync" in obj.message
    assert hubspot.calls_to("token_info") == [] and hubspot.calls_to("introspect") == []


def test_a_token_info_outage_is_a_retryable_failure(hubspot, redirected):
    hubspot.server_error("token_info", 503)
    obj = run(valid_config(hubspot), redirected)["object"]
    assert obj.error["code"] == "vendor_error" and obj.error["retryable"] is True


def test_the_dated_dependencies_name_the_oauth_version_and_legacy_private_apps():
    dated = {d.what: d for d in HubSpotConnector.dated_dependencies()}
    assert any("OAuth API version 2026-03" in what for what in dated)
    legacy = next(d for what, d in dated.items() if "legacy private-app tokens" in what)
    assert legacy.source.startswith("https://developers.hubspot.com/changelog/legacy-apis-and-legacy-apps")
    assert not any("v1" in what for what in dated)  # nothing uses /oauth/v1 any more
