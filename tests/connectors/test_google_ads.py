import hashlib
import json
import time
from urllib.parse import parse_qs

import pytest

from connectors.google_ads import SCOPE, GoogleAdsConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.runtime.identifiers import prepare
from tests.conftest import LOOPBACK
from tests.emulators import google_ads as emu


@pytest.fixture(scope="module")
def _server():
    with emu.GoogleAdsEmulator() as server:
        yield server


@pytest.fixture
def google(_server):
    _server.reset()
    return _server


@pytest.fixture
def gpolicy(google):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"google_ads": google.url})


def config(google, **overrides):
    return {**emu.valid_config(google), **overrides}


def run(cfg, policy):
    return {r.name: r for r in GoogleAdsConnector(cfg, policy=policy).test()}


SECRETS = (emu.CLIENT_SECRET, emu.REFRESH_TOKEN)


def assert_no_secrets(result, google=None):
    text = json.dumps(result.as_dict())
    for value in SECRETS:
        assert value not in text
    for token in google.access_tokens if google else {}:
        assert token not in text


def test_all_steps_pass_and_nothing_is_written(google, gpolicy):
    results = run(config(google), gpolicy)
    assert [r.status for r in results.values()] == [PASSED] * 5
    assert results["connectivity"].message.startswith("Reached ")
    assert results["scopes"].details["granted_scopes"] == [SCOPE]
    assert results["user_list"].details["upload_key_types"] == ["CONTACT_ID"]
    assert "'CDP customers'" in results["user_list"].message
    assert results["write_check"].details["validate_only"] is True
    assert results["write_check"].details["request_id"]
    assert results["scopes"].details["proven"] == [SCOPE]
    assert results["write_check"].details["proven"] == [
        "write access to the Customer Match user list for the Google user of the refresh token"
    ]

    token_call = google.calls_to("token")[0]
    form = parse_qs(token_call.body.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [emu.REFRESH_TOKEN],
        "client_id": [emu.CLIENT_ID],
        "client_secret": [emu.CLIENT_SECRET],
    }
    list_call = google.calls_to("user_list")[0]
    assert list_call.path == f"/v1/accountTypes/GOOGLE_ADS/accounts/{emu.CUSTOMER_ID}/userLists/{emu.USER_LIST_ID}"
    assert list_call.headers["Authorization"] == f"Bearer {next(iter(google.access_tokens))}"
    assert "Login-Account" not in list_call.headers

    ingest = json.loads(google.calls_to("ingest")[0].body)
    assert ingest["validateOnly"] is True
    assert ingest["encoding"] == "HEX"
    assert ingest["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    assert ingest["destinations"] == [
        {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": emu.CUSTOMER_ID},
            "productDestinationId": emu.USER_LIST_ID,
        }
    ]
    email_hash = hashlib.sha256(b"connection-test@example.com").hexdigest()
    assert ingest["audienceMembers"] == [{"userData": {"userIdentifiers": [{"emailAddress": email_hash}]}}]
    assert "consent" not in ingest
    assert google.ingested == []


def test_manager_account_and_consent_are_sent(google, gpolicy):
    google.accessible_accounts = {emu.MANAGER_ID}
    cfg = config(
        google,
        login_customer_id=emu.MANAGER_ID,
        consent_ad_user_data="CONSENT_GRANTED",
        consent_ad_personalization="CONSENT_DENIED",
    )
    results = run(cfg, gpolicy)
    assert results["write_check"].status == PASSED
    login = google.calls_to("user_list")[0].headers["Login-Account"]
    assert login == f"accountTypes/GOOGLE_ADS/accounts/{emu.MANAGER_ID}"
    ingest = json.loads(google.calls_to("ingest")[0].body)
    assert ingest["destinations"][0]["loginAccount"] == {"accountType": "GOOGLE_ADS", "accountId": emu.MANAGER_ID}
    assert ingest["consent"] == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"}


def test_mobile_id_list_gets_a_mobile_probe(google, gpolicy):
    google.user_lists[(emu.CUSTOMER_ID, emu.USER_LIST_ID)]["ingestedUserListInfo"]["uploadKeyTypes"] = ["MOBILE_ID"]
    results = run(config(google), gpolicy)
    assert results["write_check"].status == PASSED
    member = json.loads(google.calls_to("ingest")[0].body)["audienceMembers"][0]
    assert list(member) == ["mobileData"]


def test_revoked_refresh_token_is_token_expired_and_skips_the_rest(google, gpolicy):
    google.refresh_tokens[emu.REFRESH_TOKEN]["revoked"] = True
    results = run(config(google), gpolicy)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "invalid_grant"
    assert auth.error["retryable"] is False
    assert "Token has been expired or revoked." in auth.message
    assert "datamanager" in auth.error["remediation"]
    assert [results[s].status for s in ("scopes", "user_list", "write_check")] == [SKIPPED] * 3
    assert_no_secrets(auth)


def test_wrong_client_secret_is_auth_invalid(google, gpolicy):
    results = run(config(google, client_secret="GOCSPX-wrong-secret-value"), gpolicy)
    auth = results["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["http_status"] == 401
    assert "client secret" in auth.error["remediation"]
    assert "GOCSPX-wrong-secret-value" not in json.dumps(auth.as_dict())


def test_refresh_token_of_another_client_is_auth_invalid(google, gpolicy):
    google.clients["other.apps.googleusercontent.com"] = "other-secret"
    cfg = config(google, client_id="other.apps.googleusercontent.com", client_secret="other-secret")
    auth = run(cfg, gpolicy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "unauthorized_client"


def test_token_without_datamanager_scope_fails_scopes(google, gpolicy):
    google.refresh_tokens[emu.REFRESH_TOKEN]["scope"] = "https://www.googleapis.com/auth/adwords"
    results = run(config(google), gpolicy)
    assert results["authentication"].status == PASSED
    assert results["scopes"].error["code"] == "insufficient_permissions"
    assert "adwords" in results["scopes"].message
    assert results["user_list"].status == SKIPPED


def test_expired_access_token_at_the_api_is_token_expired(google, gpolicy):
    google.issue_expired_tokens = True
    results = run(config(google), gpolicy)
    user_list = results["user_list"]
    assert user_list.error["code"] == "token_expired"
    assert user_list.error["vendor_code"] == "UNAUTHENTICATED/ACCESS_TOKEN_EXPIRED"
    assert results["write_check"].status == SKIPPED
    assert_no_secrets(user_list, google)


def test_api_scope_error_is_insufficient_permissions(google, gpolicy):
    google.fail("user_list", 403, emu.SCOPE_INSUFFICIENT)
    result = run(config(google), gpolicy)["user_list"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "PERMISSION_DENIED/ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert "datamanager" in result.error["remediation"]


def test_data_manager_api_not_enabled(google, gpolicy):
    google.service_enabled = False
    result = run(config(google), gpolicy)["user_list"]
    assert result.error["code"] == "insufficient_permissions"
    assert "Enable the Data Manager API" in result.error["remediation"]


def test_no_access_to_the_account(google, gpolicy):
    google.accessible_accounts = set()
    result = run(config(google), gpolicy)["user_list"]
    assert result.error["code"] == "insufficient_permissions"
    assert "login_customer_id" in result.error["remediation"]
    assert "The caller does not have permission" in result.message


def test_unknown_user_list_is_not_found(google, gpolicy):
    results = run(config(google, user_list_id="999"), gpolicy)
    assert results["user_list"].error["code"] == "not_found"
    assert "user_list_id 999" in results["user_list"].error["remediation"]
    assert results["write_check"].status == SKIPPED


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"readOnly": True}, "insufficient_permissions", "read-only"),
        ({"membershipStatus": "CLOSED"}, "invalid_config", "CLOSED"),
        ({"accountAccessStatus": "DISABLED"}, "insufficient_permissions", "revoked"),
        ({"ingestedUserListInfo": {"uploadKeyTypes": ["PAIR_ID"]}}, "invalid_config", "PAIR_ID"),
    ],
)
def test_unusable_user_lists(google, gpolicy, change, code, words):
    google.user_lists[(emu.CUSTOMER_ID, emu.USER_LIST_ID)].update(change)
    results = run(config(google), gpolicy)
    assert results["user_list"].error["code"] == code
    assert words in results["user_list"].message
    assert results["write_check"].status == SKIPPED


@pytest.mark.parametrize(
    ("body", "status", "code", "retryable"),
    [
        (emu.TERMS_NOT_SIGNED, 400, "insufficient_permissions", False),
        (emu.INVALID_LIST, 400, "not_found", False),
        (emu.PERMISSION_DENIED, 403, "insufficient_permissions", False),
        (emu.INTERNAL, 500, "vendor_error", True),
    ],
)
def test_write_check_errors(google, gpolicy, body, status, code, retryable):
    google.fail("ingest", status, body)
    result = run(config(google), gpolicy)["write_check"]
    assert result.status == FAILED
    assert result.error["code"] == code
    assert result.error["retryable"] is retryable
    assert body["error"]["message"] in result.message
    assert_no_secrets(result, google)


def test_terms_not_signed_says_where_to_accept(google, gpolicy):
    google.fail("ingest", 400, emu.TERMS_NOT_SIGNED)
    result = run(config(google), gpolicy)["write_check"]
    assert "terms of service" in result.error["remediation"]


def test_rate_limit_with_retry_after_header(google, gpolicy):
    google.fail("ingest", 429, emu.RATE_LIMITED, headers={"Retry-After": "12"})
    result = run(config(google), gpolicy)["write_check"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retryable"] is True
    assert result.error["retry_after"] == 12
    assert "12s" in result.error["remediation"]


def test_rate_limit_with_retry_info_only(google, gpolicy):
    google.fail("user_list", 429, emu.RATE_LIMITED)
    result = run(config(google), gpolicy)["user_list"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retry_after"] == 30
    assert result.error["vendor_code"] == "RESOURCE_EXHAUSTED/RATE_LIMIT_EXCEEDED"


def test_token_endpoint_outage_is_vendor_error(google, gpolicy):
    google.fail("token", 503, {"error": "temporarily_unavailable"})
    auth = run(config(google), gpolicy)["authentication"]
    assert auth.error["code"] == "vendor_error"
    assert auth.error["retryable"] is True


def test_slow_token_endpoint_times_out(google, gpolicy):
    google.slow("token", 1.0)
    connector = GoogleAdsConnector(config(google), policy=gpolicy)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True


def test_connection_refused_skips_everything():
    with emu.GoogleAdsEmulator() as server:
        cfg = emu.valid_config(server)
        policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"google_ads": server.url})
    results = run(cfg, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert all(results[s].status == SKIPPED for s in ("authentication", "scopes", "user_list", "write_check"))


def test_config_validation_names_fields():
    errors = GoogleAdsConnector.validate_config(
        {
            "client_id": "not-a-google-client",
            "client_secret": "s",
            "refresh_token": "r",
            "customer_id": "123-456-7890",
            "user_list_id": "abc",
            "consent_ad_user_data": "YES",
            "developer_token": "x",
        }
    )
    assert set(errors) == {
        "config.client_id",
        "config.customer_id",
        "config.user_list_id",
        "config.consent_ad_user_data",
        "config.developer_token",
    }
    assert errors["config.customer_id"] == ["Must be the 10-digit account ID without dashes."]
    assert GoogleAdsConnector.validate_config({})["config.refresh_token"] == ["This field is required."]


def test_secrets_are_write_only():
    assert set(GoogleAdsConnector.secret_fields()) == {"client_secret", "refresh_token"}


def test_fields_are_the_static_identifier_schema(google, gpolicy):
    described = GoogleAdsConnector(config(google), policy=gpolicy).fields().as_dict()
    assert described["source"] == "static"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["email"]["identifier"] and fields["email"]["must_hash"]
    assert fields["phone"]["must_hash"] and "E.164" in fields["phone"]["description"]
    assert fields["first_name"]["must_hash"] and not fields["first_name"]["identifier"]
    assert not fields["country_code"]["must_hash"]
    assert fields["mobile_id"]["identifier"] and not fields["mobile_id"]["must_hash"]
    assert described["options"]["encoding"] == "HEX"
    assert google.calls == []


def test_identifier_kinds_prepare_values_as_the_data_manager_api_formats_them(google, gpolicy):
    described = GoogleAdsConnector(config(google), policy=gpolicy).fields().as_dict()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["sync_modes"] == ["insert", "mirror"]
    email = fields["email"]["identifier_kind"]
    assert email["kind"] == "email" and email["hash"] == "sha256"
    assert email["source"] == "https://developers.google.com/data-manager/api/devguides/concepts/formatting"
    # The page's own examples: dots and the +suffix go only for gmail.com / googlemail.com.
    gmail = prepare(email, " cloudy.sanfrancisco+shopping@gmail.com")
    assert gmail["normalized"] == "cloudysanfrancisco@gmail.com"
    assert gmail["sent"] == hashlib.sha256(b"cloudysanfrancisco@gmail.com").hexdigest()
    assert prepare(email, "user.name+NYC@Example.com")["normalized"] == "user.name+nyc@example.com"
    assert prepare(fields["phone"]["identifier_kind"], "+1 (800) 555-0100")["normalized"] == "+18005550100"
    assert "country code" in prepare(fields["phone"]["identifier_kind"], "(800) 555-0100")["problem"]
    postal = prepare(fields["postal_code"]["identifier_kind"], " 94043 ")
    assert postal == {"normalized": "94043", "sent": "94043"}  # never hashed
