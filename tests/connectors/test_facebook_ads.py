import hashlib
import hmac
import json
import time

import pytest

from connectors.facebook_ads import FacebookAdsConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.runtime.identifiers import prepare
from tests.conftest import LOOPBACK
from tests.emulators import facebook_ads as emu

STEPS = ("connectivity", "authentication", "permissions", "ad_account", "audience")


@pytest.fixture(scope="module")
def _server():
    with emu.FacebookAdsEmulator() as server:
        yield server


@pytest.fixture
def meta(_server):
    _server.reset()
    return _server


@pytest.fixture
def mpolicy(meta):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"facebook_ads": meta.url})


def config(meta, **overrides):
    return {**emu.valid_config(meta), **overrides}


def run(cfg, policy):
    return {r.name: r for r in FacebookAdsConnector(cfg, policy=policy).test()}


def assert_no_secrets(result):
    text = json.dumps(result.as_dict())
    assert emu.ACCESS_TOKEN not in text
    assert emu.APP_SECRET not in text


def test_all_steps_pass_and_nothing_is_written(meta, mpolicy):
    results = run(config(meta), mpolicy)
    assert [results[s].status for s in STEPS] == [PASSED] * 5
    assert "CDP Sync (system user)" in results["authentication"].message
    assert "ads_management" in results["permissions"].details["granted_permissions"]
    assert results["ad_account"].details["account_status"] == "ACTIVE"
    assert results["ad_account"].details["custom_audience_terms_accepted"] is True
    assert {"tos_accepted", "user_tos_accepted"} <= set(meta.calls_to("ad_account")[0].query["fields"].split(","))
    assert results["audience"].details["subtype"] == "CUSTOM"
    assert "'CDP high-value customers'" in results["audience"].message

    me = meta.calls_to("me")[0]
    assert me.path == "/v27.0/me"
    assert me.headers["Authorization"] == f"Bearer {emu.ACCESS_TOKEN}"
    assert "access_token" not in me.query  # the token never travels in a URL
    assert "appsecret_proof" not in me.query
    assert meta.calls_to("ad_account")[0].path == f"/v27.0/act_{emu.AD_ACCOUNT_ID}"
    audience_call = meta.calls_to("audience")[0]
    assert audience_call.path == f"/v27.0/{emu.AUDIENCE_ID}"
    assert "permission_for_actions" in audience_call.query["fields"]
    assert meta.uploads == []
    assert meta.calls_to("users") == []


def test_act_prefix_version_and_appsecret_proof(meta, mpolicy):
    meta.require_app_secret = True
    results = run(
        config(meta, ad_account_id=f"act_{emu.AD_ACCOUNT_ID}", api_version="v25.0", app_secret=emu.APP_SECRET), mpolicy
    )
    assert [results[s].status for s in STEPS] == [PASSED] * 5
    proof = hmac.new(emu.APP_SECRET.encode(), emu.ACCESS_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert all(call.query["appsecret_proof"] == proof for call in meta.calls if call.endpoint)
    assert meta.calls_to("ad_account")[0].path == f"/v25.0/act_{emu.AD_ACCOUNT_ID}"


def test_missing_appsecret_proof_when_required_is_auth_invalid(meta, mpolicy):
    meta.require_app_secret = True
    results = run(config(meta), mpolicy)
    auth = results["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert "app_secret" in auth.error["remediation"]
    assert results["permissions"].status == SKIPPED


def test_invalid_token_is_auth_invalid(meta, mpolicy):
    results = run(config(meta, access_token="EAAnot-a-valid-token-at-all"), mpolicy)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "190"
    assert auth.error["http_status"] == 400
    assert "Invalid OAuth access token" in auth.message
    assert "System users" in auth.error["remediation"]
    assert auth.details["fbtrace_id"]
    assert all(results[s].status == SKIPPED for s in STEPS[2:])
    assert "EAAnot-a-valid-token-at-all" not in json.dumps(auth.as_dict())


def test_expired_token_is_token_expired(meta, mpolicy):
    meta.tokens[emu.ACCESS_TOKEN]["expired"] = True
    auth = run(config(meta), mpolicy)["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "190/463"
    assert auth.error["retryable"] is False
    assert_no_secrets(auth)


def test_token_without_ads_management(meta, mpolicy):
    meta.tokens[emu.ACCESS_TOKEN]["permissions"] = {"ads_read": "granted", "ads_management": "declined"}
    results = run(config(meta), mpolicy)
    assert results["permissions"].error["code"] == "insufficient_permissions"
    assert "ads_read" in results["permissions"].message
    assert results["ad_account"].status == SKIPPED


def test_permission_error_code_200_is_insufficient_permissions(meta, mpolicy):
    meta.fail("ad_account", 400, emu.PERMISSION_ERROR)
    result = run(config(meta), mpolicy)["ad_account"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "200"
    assert "Requires ads_management permission" in result.message


def test_unknown_ad_account_is_not_found(meta, mpolicy):
    results = run(config(meta, ad_account_id="999"), mpolicy)
    result = results["ad_account"]
    assert result.error["code"] == "not_found"
    assert result.error["vendor_code"] == "100/33"
    assert "Add people" in result.error["remediation"]
    assert results["audience"].status == SKIPPED


def test_disabled_ad_account(meta, mpolicy):
    meta.ad_accounts[emu.AD_ACCOUNT_ID]["account_status"] = 2
    result = run(config(meta), mpolicy)["ad_account"]
    assert result.error["code"] == "invalid_config"
    assert "DISABLED" in result.message


def test_unknown_audience_is_not_found(meta, mpolicy):
    result = run(config(meta, audience_id="42"), mpolicy)["audience"]
    assert result.error["code"] == "not_found"
    assert "Object with ID '42' does not exist" in result.message


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"subtype": "LOOKALIKE"}, "invalid_config", "LOOKALIKE"),
        ({"account_id": "5555"}, "invalid_config", "act_5555"),
        ({"operation_status": {"code": 471, "description": "Audience restricted"}}, "invalid_config", "471"),
        ({"permission_for_actions": {"can_edit": False}}, "insufficient_permissions", "may not edit"),
    ],
)
def test_unusable_audiences(meta, mpolicy, change, code, words):
    meta.audiences[emu.AUDIENCE_ID].update(change)
    meta.tokens[emu.ACCESS_TOKEN]["accounts"].add("5555")
    result = run(config(meta), mpolicy)["audience"]
    assert result.error["code"] == code
    assert words in result.message


def test_upload_blocked_error(meta, mpolicy):
    meta.fail("audience", 400, emu.UPLOAD_BLOCKED)
    result = run(config(meta), mpolicy)["audience"]
    assert result.error["code"] == "invalid_config"
    assert result.error["vendor_code"] == "100/1713230"


@pytest.mark.parametrize("body", [emu.USER_RATE_LIMIT, emu.ACCOUNT_RATE_LIMIT])
def test_rate_limits_report_the_business_use_case_wait(meta, mpolicy, body):
    usage = {"1234": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 3}]}
    meta.fail("ad_account", 400, body, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    result = run(config(meta), mpolicy)["ad_account"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retryable"] is True
    assert result.error["retry_after"] == 180
    assert "180s" in result.error["remediation"]


def test_http_429_with_retry_after(meta, mpolicy):
    meta.fail("me", 429, emu.USER_RATE_LIMIT, headers={"Retry-After": "9"})
    result = run(config(meta), mpolicy)["authentication"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retry_after"] == 9


def test_transient_server_error_is_vendor_error(meta, mpolicy):
    meta.fail("audience", 500, emu.TRANSIENT)
    result = run(config(meta), mpolicy)["audience"]
    assert result.error["code"] == "vendor_error"
    assert result.error["retryable"] is True


@pytest.mark.parametrize(
    ("unsign", "who"),
    [("user", "by the token's user"), ("business", "by its business"), ("both", "by its business nor by")],
)
def test_unsigned_custom_audience_terms_fail_with_the_terms_page(meta, mpolicy, unsign, who):
    if unsign in ("user", "both"):
        meta.tokens[emu.ACCESS_TOKEN]["tos_accepted"] = {}
    if unsign in ("business", "both"):
        meta.ad_accounts[emu.AD_ACCOUNT_ID]["tos_accepted"] = {}
    results = run(config(meta), mpolicy)
    step = results["ad_account"]
    assert step.status == FAILED
    assert step.error["code"] == "insufficient_permissions"
    assert who in step.message
    assert "#2655" in step.message
    terms = f"https://business.facebook.com/ads/manage/customaudiences/tos/?act={emu.AD_ACCOUNT_ID}"
    assert terms in step.error["remediation"]
    assert step.details["custom_audience_terms_accepted"] is False
    assert results["audience"].status == SKIPPED


def test_an_upload_refused_for_unsigned_terms_names_the_terms_page(meta, mpolicy):
    """What a sync sees (#2655 from the users edge) maps to the same remediation."""
    meta.tokens[emu.ACCESS_TOKEN]["tos_accepted"] = {}
    connector = FacebookAdsConnector(config(meta), policy=mpolicy)
    headers = {"Authorization": f"Bearer {emu.ACCESS_TOKEN}"}
    response = connector.http.post(f"{meta.url}/v27.0/{emu.AUDIENCE_ID}/users", headers=headers)
    assert response.status_code == 400
    error = connector._graph_error(response, "the upload")
    assert error.code == "insufficient_permissions"
    assert error.vendor_code == "2655"
    assert "customaudiences/tos/?act=" in error.remediation


def test_default_marketing_api_version_is_current():
    assert FacebookAdsConnector.default_api_version == "v27.0"
    assert FacebookAdsConnector.config_schema["properties"]["api_version"]["default"] == "v27.0"
    assert "marketing-api-changelog/versions" in FacebookAdsConnector.api_version_doc


def test_deprecated_api_version(meta, mpolicy):
    result = run(config(meta, api_version="v12.0"), mpolicy)["authentication"]
    assert result.error["code"] == "invalid_config"
    assert "api_version" in result.error["remediation"]


def test_slow_graph_times_out(meta, mpolicy):
    meta.slow("me", 1.0)
    connector = FacebookAdsConnector(config(meta), policy=mpolicy)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_trusted_and_untrusted_certificates(server_ssl_context, ca_bundle):
    with emu.FacebookAdsEmulator(ssl_context=server_ssl_context) as server:
        cfg = emu.valid_config(server)
        trusted = OutboundPolicy(
            allowed_networks=parse_networks(LOOPBACK), base_urls={"facebook_ads": server.url}, ca_bundle=ca_bundle
        )
        results = run(cfg, trusted)
        assert [results[s].status for s in STEPS] == [PASSED] * 5
        assert "with a valid TLS certificate" in results["connectivity"].message
        untrusted = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"facebook_ads": server.url})
        results = run(cfg, untrusted)
        assert results["connectivity"].error["code"] == "tls"
        assert results["authentication"].status == SKIPPED


def test_unresolvable_host_is_dns(meta):
    policy = OutboundPolicy(
        allowed_networks=parse_networks(LOOPBACK), base_urls={"facebook_ads": "https://graph.no-such-host.invalid"}
    )
    results = run(config(meta), policy)
    assert results["connectivity"].error["code"] == "dns"


def test_config_validation_names_fields():
    errors = FacebookAdsConnector.validate_config(
        {"access_token": "", "ad_account_id": "acct-1", "audience_id": "x", "api_version": "25", "app_secret": "short"}
    )
    assert set(errors) == {
        "config.access_token",
        "config.ad_account_id",
        "config.audience_id",
        "config.api_version",
        "config.app_secret",
    }
    assert "short" not in json.dumps(errors)
    assert FacebookAdsConnector.validate_config({})["config.audience_id"] == ["This field is required."]


def test_secrets_are_write_only():
    assert set(FacebookAdsConnector.secret_fields()) == {"access_token", "app_secret"}


def test_fields_say_which_keys_are_hashed(meta, mpolicy):
    described = FacebookAdsConnector(config(meta), policy=mpolicy).fields().as_dict()
    assert described["source"] == "live"
    assert described["options"]["value_based"] is False
    fields = {f["name"]: f for f in described["fields"]}
    for name in ("EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY", "DOBY", "GEN", "CT", "ST"):
        assert fields[name]["must_hash"], name
        assert "SHA-256" in fields[name]["description"]
    for name in ("MADID", "EXTERN_ID", "PAGEUID"):
        assert not fields[name]["must_hash"], name
        assert fields[name]["identifier"]
    assert fields["EMAIL"]["identifier"] and not fields["FN"]["identifier"]
    assert "LOOKALIKE_VALUE" not in fields
    (read,) = meta.calls_to("audience")
    assert read.query["fields"] == "id,is_value_based"


def value_based(meta, *, terms: bool) -> None:
    """A customer list created with is_value_based=1 (Meta's value-based lookalike guide), terms signed or not."""
    meta.audiences[emu.AUDIENCE_ID]["is_value_based"] = True
    if terms:
        meta.ad_accounts[emu.AD_ACCOUNT_ID]["tos_accepted"]["value_based_custom_audience_tos"] = 1


def test_a_value_based_audience_passes_once_its_terms_are_accepted_and_asks_for_lookalike_value(meta, mpolicy):
    value_based(meta, terms=True)
    audience = run(config(meta), mpolicy)["audience"]
    assert audience.status == PASSED
    assert audience.details["value_based"] is True and audience.details["value_based_terms_accepted"] is True
    assert "LOOKALIKE_VALUE" in audience.message
    assert "is_value_based" in meta.calls_to("audience")[0].query["fields"].split(",")
    described = FacebookAdsConnector(config(meta), policy=mpolicy).fields().as_dict()
    assert described["options"]["value_based"] is True
    fields = {f["name"]: f for f in described["fields"]}
    value = fields["LOOKALIKE_VALUE"]
    assert value["required"] is True and value["type"] == "number"
    assert not value["must_hash"] and not value["identifier"]


def test_a_value_based_audience_without_its_terms_fails_with_their_page(meta, mpolicy):
    value_based(meta, terms=False)
    results = run(config(meta), mpolicy)
    assert results["ad_account"].status == PASSED  # the Custom Audience terms themselves are signed
    audience = results["audience"]
    assert audience.status == FAILED
    assert audience.error["code"] == "insufficient_permissions"
    assert "value-based lookalike terms are not accepted" in audience.message
    page = f"https://business.facebook.com/customaudiences/value_based/tos.php?act={emu.AD_ACCOUNT_ID}"
    assert page in audience.error["remediation"]
    assert audience.details["value_based_terms_accepted"] is False


def test_the_audience_step_alone_reads_the_value_based_terms_itself(meta, mpolicy):
    value_based(meta, terms=False)
    connector = FacebookAdsConnector(config(meta), policy=mpolicy)
    (step,) = [s for s in connector.steps if s.name == "audience"]
    assert connector.run_step(step).error["code"] == "insufficient_permissions"
    assert meta.calls_to("ad_account")[0].query["fields"] == "tos_accepted"


def test_an_audience_without_can_edit_is_reported_unproven(meta, mpolicy):
    del meta.audiences[emu.AUDIENCE_ID]["permission_for_actions"]
    audience = run(config(meta), mpolicy)["audience"]
    assert audience.status == PASSED
    (unproven,) = audience.details["unproven"]
    assert unproven["privilege"] == "edit rights on the custom audience"
    assert "Add people" in unproven["grant"]
    assert "edit rights on the custom audience" not in audience.details["proven"]


def test_identifier_kinds_prepare_values_as_meta_normalizes_them(meta, mpolicy):
    described = FacebookAdsConnector(config(meta), policy=mpolicy).fields().as_dict()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["sync_modes"] == ["insert", "mirror"]
    phone = prepare(fields["PHONE"]["identifier_kind"], "+1 (650) 555-1234")
    assert phone["normalized"] == "16505551234"
    assert phone["sent"] == hashlib.sha256(b"16505551234").hexdigest()
    assert prepare(fields["FN"]["identifier_kind"], " Mary-Ann ")["normalized"] == "maryann"
    assert prepare(fields["EMAIL"]["identifier_kind"], " John@Example.COM ")["normalized"] == "john@example.com"
    assert "Not an email address" in prepare(fields["EMAIL"]["identifier_kind"], "john")["problem"]
    madid = prepare(fields["MADID"]["identifier_kind"], "AECE52E7-03EE-455A-B3C4-E57283966239")
    assert madid["sent"] == "aece52e7-03ee-455a-b3c4-e57283966239"  # lowercase, not hashed


def test_a_user_token_reports_when_it_and_its_data_access_expire(meta, mpolicy):
    meta.tokens[emu.ACCESS_TOKEN].update(type="USER", expires_at=1_900_000_000, data_access_expires_at=1_890_000_000)
    auth = run(config(meta), mpolicy)["authentication"]
    assert auth.status == PASSED
    expiries = {e["credential"]: e for e in auth.details["expires"]}
    assert expiries["access_token"]["expires_at"] == "2030-03-17T17:46:40Z"
    assert expiries["data_access"]["expires_at"] == "2029-11-22T00:00:00Z"
    assert expiries["data_access"]["source"].endswith("/access-tokens/debugging")
    [call] = meta.calls_to("debug_token")
    assert call.query["input_token"] == emu.ACCESS_TOKEN
    assert emu.ACCESS_TOKEN not in json.dumps(auth.as_dict())  # the token itself never shows


def test_a_system_user_token_that_never_expires_reports_no_expiry(meta, mpolicy):
    auth = run(config(meta), mpolicy)["authentication"]
    assert auth.status == PASSED and "expires" not in auth.details


def test_an_unreadable_expiry_leaves_the_working_token_passed(meta, mpolicy):
    meta.fail("debug_token", 400, emu.PERMISSION_ERROR)
    auth = run(config(meta), mpolicy)["authentication"]
    assert auth.status == PASSED
    assert "expires" not in auth.details and auth.details["expiry_unknown"]
