import hashlib
import json
import time
from datetime import datetime
from urllib.parse import parse_qs

import pytest

from connectors.linkedin_ads import LinkedInAdsConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundClient, OutboundPolicy, parse_networks
from connectors.runtime.identifiers import prepare
from connectors.runtime.oauth import OAuthApp, OAuthError
from connectors.runtime.registry import provider_for
from tests.conftest import LOOPBACK
from tests.emulators import linkedin_ads as emu

STEPS = ("connectivity", "authentication", "scopes", "ad_account", "segment")
URN = f"urn:li:sponsoredAccount:{emu.AD_ACCOUNT_ID}"


@pytest.fixture(scope="module")
def _server():
    with emu.LinkedInAdsEmulator() as server:
        yield server


@pytest.fixture
def linkedin(_server):
    _server.reset()
    return _server


@pytest.fixture
def lpolicy(linkedin):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"linkedin_ads": linkedin.url})


def config(linkedin, **overrides):
    return {**emu.valid_config(linkedin), **overrides}


def run(cfg, policy):
    return {r.name: r for r in LinkedInAdsConnector(cfg, policy=policy).test()}


def assert_no_secrets(result, linkedin):
    text = json.dumps(result.as_dict())
    for value in (emu.CLIENT_SECRET, emu.ACCESS_TOKEN, emu.REFRESH_TOKEN, *linkedin.tokens):
        assert value not in text


def test_all_steps_pass_and_nothing_is_written(linkedin, lpolicy):
    results = run(config(linkedin), lpolicy)
    assert [results[s].status for s in STEPS] == [PASSED] * 5
    assert results["authentication"].details["refreshed"] is False
    assert results["scopes"].details["granted_scopes"] == ["r_ads", "rw_dmp_segments"]
    assert results["scopes"].details["proven"] == ["rw_dmp_segments"]
    assert results["ad_account"].details == {
        "account": URN,
        "role": "CAMPAIGN_MANAGER",
        "proven": ["an ad-account role other than VIEWER"],
    }
    assert results["segment"].details["status"] == "READY"
    assert "'CDP streaming users'" in results["segment"].message

    introspect = parse_qs(linkedin.calls_to("introspect")[0].body.decode())
    assert introspect == {
        "client_id": [emu.CLIENT_ID],
        "client_secret": [emu.CLIENT_SECRET],
        "token": [emu.ACCESS_TOKEN],
    }
    for call in linkedin.calls_to("ad_account_users") + linkedin.calls_to("segment"):
        assert call.headers["Authorization"] == f"Bearer {emu.ACCESS_TOKEN}"
        assert call.headers["Linkedin-Version"] == "202607"
        assert call.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert linkedin.calls_to("ad_account_users")[0].query["q"] == "authenticatedUser"
    assert linkedin.calls_to("segment")[0].path == f"/rest/dmpSegments/{emu.SEGMENT_ID}"
    assert linkedin.calls_to("access_token") == []
    assert linkedin.uploads == []


def test_expired_token_is_renewed_with_the_refresh_token(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "expired"
    results = run(config(linkedin, refresh_token=emu.REFRESH_TOKEN), lpolicy)
    assert [results[s].status for s in STEPS] == [PASSED] * 5
    assert results["authentication"].details["refreshed"] is True
    form = parse_qs(linkedin.calls_to("access_token")[0].body.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [emu.REFRESH_TOKEN],
        "client_id": [emu.CLIENT_ID],
        "client_secret": [emu.CLIENT_SECRET],
    }
    new_token = next(t for t in linkedin.tokens if t.startswith("AQVrefreshed"))
    assert linkedin.calls_to("segment")[0].headers["Authorization"] == f"Bearer {new_token}"
    assert_no_secrets(results["authentication"], linkedin)


def test_a_token_without_refresh_token_reports_when_introspection_says_it_expires(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["expires_at"] = 1_900_000_000
    auth = run(config(linkedin), lpolicy)["authentication"]
    assert auth.status == PASSED
    [expiry] = auth.details["expires"]
    assert expiry["credential"] == "access_token"
    assert expiry["expires_at"] == "2030-03-17T17:46:40Z"
    assert expiry["source"] == "https://learn.microsoft.com/en-us/linkedin/shared/authentication/token-introspection"
    assert "Reconnect LinkedIn" in expiry["remedy"]


def test_a_refresh_reports_the_refresh_tokens_remaining_lifetime_not_the_renewed_access_token(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "expired"
    before = time.time()
    auth = run(config(linkedin, refresh_token=emu.REFRESH_TOKEN), lpolicy)["authentication"]
    [expiry] = auth.details["expires"]
    assert expiry["credential"] == "refresh_token"
    at = datetime.fromisoformat(expiry["expires_at"]).timestamp()
    lifetime = 31_000_000  # the emulator's refresh_token_expires_in
    assert before + lifetime - 5 <= at <= time.time() + lifetime + 5
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "active"
    active = run(config(linkedin, refresh_token=emu.REFRESH_TOKEN), lpolicy)["authentication"]
    assert "expires" not in active.details  # an active token that a refresh token renews does not expire syncs


def test_expired_token_without_refresh_token_is_token_expired(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "expired"
    results = run(config(linkedin), lpolicy)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "token_expired"
    assert auth.error["retryable"] is False
    assert "Reconnect LinkedIn" in auth.error["remediation"]
    assert all(results[s].status == SKIPPED for s in STEPS[2:])
    assert_no_secrets(auth, linkedin)


def test_dead_refresh_token_is_token_expired(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "expired"
    linkedin.refresh_tokens[emu.REFRESH_TOKEN]["status"] = "expired"
    auth = run(config(linkedin, refresh_token=emu.REFRESH_TOKEN), lpolicy)["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["vendor_code"] == "invalid_request"
    assert "invalid, expired or revoked" in auth.message
    assert_no_secrets(auth, linkedin)


def test_revoked_token_is_auth_invalid(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["status"] = "revoked"
    auth = run(config(linkedin, refresh_token=emu.REFRESH_TOKEN), lpolicy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert "revoked" in auth.message


def test_two_legged_token_is_refused(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["auth_type"] = "2L"
    auth = run(config(linkedin), lpolicy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert "3-legged" in auth.message


@pytest.mark.parametrize(
    "overrides", [{"access_token": "AQVsomething-else"}, {"client_id": "86someotherapp"}], ids=["token", "client_id"]
)
def test_unknown_token_or_client_id_is_auth_invalid_with_the_reconnect_steps(linkedin, lpolicy, overrides):
    """Introspection answers both with HTTP 400 "Invalid client id or token" (LinkedIn's token-introspection page)."""
    auth = run(config(linkedin, **overrides), lpolicy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["http_status"] == 400
    assert "client_id" in auth.error["remediation"]
    assert "Reconnect LinkedIn" in auth.error["remediation"]
    assert auth.status == FAILED
    assert_no_secrets(auth, linkedin)


def test_a_revoked_refresh_token_reads_as_invalid_grant_in_the_oauth_flow(linkedin):
    """LinkedIn answers a dead refresh token with invalid_request; the OAuth flow's revoked-grant handling (every
    destination of the connection to token_expired) keys on invalid_grant, as RFC 6749 names it."""
    linkedin.refresh_tokens[emu.REFRESH_TOKEN]["status"] = "revoked"
    provider = provider_for("linkedin_ads")
    client = OutboundClient(OutboundPolicy(allowed_networks=parse_networks(LOOPBACK)))
    _authorize, token_url = provider.endpoints(base_url=linkedin.url)
    with pytest.raises(OAuthError) as refused:
        provider.refresh(
            client,
            token_url=token_url,
            app=OAuthApp(emu.CLIENT_ID, emu.CLIENT_SECRET),
            refresh_token=emu.REFRESH_TOKEN,
            scopes=[],
        )
    assert refused.value.code == "invalid_grant"
    assert refused.value.http_status == 400


def test_wrong_client_secret_is_auth_invalid(linkedin, lpolicy):
    auth = run(config(linkedin, client_secret="WPL_AP1.wrong-secret"), lpolicy)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "invalid_client"
    assert "WPL_AP1.wrong-secret" not in json.dumps(auth.as_dict())


def test_missing_dmp_scope_is_insufficient_permissions(linkedin, lpolicy):
    linkedin.tokens[emu.ACCESS_TOKEN]["scope"] = "r_ads,r_liteprofile"
    results = run(config(linkedin), lpolicy)
    scopes = results["scopes"]
    assert scopes.error["code"] == "insufficient_permissions"
    assert "rw_dmp_segments" in scopes.message
    assert "Audiences program" in scopes.error["remediation"]
    assert results["ad_account"].status == SKIPPED


def test_api_403_is_insufficient_permissions(linkedin, lpolicy):
    linkedin.fail("segment", 403, emu.access_denied(f"dmpSegments.GET.{emu.SEGMENT_ID}"))
    result = run(config(linkedin), lpolicy)["segment"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "ACCESS_DENIED"
    assert "Not enough permissions to access" in result.message


def test_token_expiring_between_steps_is_token_expired(linkedin, lpolicy):
    linkedin.fail("ad_account_users", 401, emu.EXPIRED_TOKEN)
    results = run(config(linkedin), lpolicy)
    assert results["ad_account"].error["code"] == "token_expired"
    assert results["ad_account"].error["vendor_code"] == "EXPIRED_ACCESS_TOKEN"
    assert results["segment"].status == SKIPPED


def test_member_without_a_role_on_the_account(linkedin, lpolicy):
    linkedin.roles[emu.MEMBER] = [{"account": "urn:li:sponsoredAccount:1", "role": "ACCOUNT_MANAGER"}]
    results = run(config(linkedin), lpolicy)
    assert results["ad_account"].error["code"] == "insufficient_permissions"
    assert "no role" in results["ad_account"].message
    assert results["segment"].status == SKIPPED


def test_viewer_role_is_not_enough(linkedin, lpolicy):
    linkedin.roles[emu.MEMBER][0]["role"] = "VIEWER"
    result = run(config(linkedin), lpolicy)["ad_account"]
    assert result.error["code"] == "insufficient_permissions"
    assert "VIEWER" in result.message


def test_account_found_on_a_later_page(linkedin, lpolicy):
    others = [{"account": f"urn:li:sponsoredAccount:{n}", "role": "VIEWER"} for n in range(150)]
    linkedin.roles[emu.MEMBER] = others + linkedin.roles[emu.MEMBER]
    result = run(config(linkedin), lpolicy)["ad_account"]
    assert result.status == PASSED
    assert [c.query["start"] for c in linkedin.calls_to("ad_account_users")] == ["0", "100"]


def test_unknown_segment_is_not_found(linkedin, lpolicy):
    result = run(config(linkedin, segment_id="999"), lpolicy)["segment"]
    assert result.error["code"] == "not_found"
    assert "segment_id 999" in result.error["remediation"]


@pytest.mark.parametrize(
    ("change", "overrides", "words"),
    [
        ({"account": "urn:li:sponsoredAccount:1"}, {}, "urn:li:sponsoredAccount:1"),
        ({}, {"segment_type": "company"}, "segment_type is company"),
        ({"destinations": [{"destination": "LINKEDIN", "status": "EXPIRED"}]}, {}, "is EXPIRED"),
        ({"destinations": [{"destination": "LINKEDIN", "status": "FAILED"}]}, {}, "is FAILED"),
        # A top-level status says nothing once a destination carries one (the Matched Audiences FAQ).
        ({"status": "READY", "destinations": [{"destination": "LINKEDIN", "status": "ERROR"}]}, {}, "is ERROR"),
    ],
)
def test_unusable_segments(linkedin, lpolicy, change, overrides, words):
    linkedin.segments[emu.SEGMENT_ID].update(change)
    linkedin.roles[emu.MEMBER].append({"account": "urn:li:sponsoredAccount:1", "role": "VIEWER"})
    result = run(config(linkedin, **overrides), lpolicy)["segment"]
    assert result.error["code"] == "invalid_config"
    assert words in result.message


def test_inactive_version_is_invalid_config(linkedin, lpolicy):
    result = run(config(linkedin, linkedin_version="202401"), lpolicy)["ad_account"]
    assert result.error["code"] == "invalid_config"
    assert result.error["http_status"] == 426
    assert "linkedin_version" in result.error["remediation"]


def test_rate_limit_and_server_error(linkedin, lpolicy):
    linkedin.fail("segment", 429, emu.RATE_LIMITED, headers={"Retry-After": "60"})
    result = run(config(linkedin), lpolicy)["segment"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retry_after"] == 60
    assert result.error["retryable"] is True
    linkedin.reset()
    linkedin.fail("ad_account_users", 500, emu.SERVER_ERROR)
    result = run(config(linkedin), lpolicy)["ad_account"]
    assert result.error["code"] == "vendor_error"
    assert result.error["retryable"] is True


def test_slow_introspection_times_out(linkedin, lpolicy):
    linkedin.slow("introspect", 1.0)
    connector = LinkedInAdsConnector(config(linkedin), policy=lpolicy)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields():
    errors = LinkedInAdsConnector.validate_config(
        {
            "client_id": "c",
            "client_secret": "s",
            "access_token": "t",
            "ad_account_id": "urn:li:sponsoredAccount:1",
            "segment_id": "seg",
            "segment_type": "people",
            "linkedin_version": "2026-03",
        }
    )
    assert set(errors) == {
        "config.ad_account_id",
        "config.segment_id",
        "config.segment_type",
        "config.linkedin_version",
    }
    assert LinkedInAdsConnector.validate_config({})["config.access_token"] == ["This field is required."]


def test_secrets_are_write_only():
    assert set(LinkedInAdsConnector.secret_fields()) == {"client_secret", "access_token", "refresh_token"}


def test_user_fields(linkedin, lpolicy):
    described = LinkedInAdsConnector(config(linkedin), policy=lpolicy).fields().as_dict()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["source"] == "static"
    assert fields["SHA256_EMAIL"]["identifier"] and fields["SHA256_EMAIL"]["must_hash"]
    assert fields["GOOGLE_AID"]["identifier"] and not fields["GOOGLE_AID"]["must_hash"]
    assert not fields["firstName"]["identifier"]
    assert described["options"]["endpoint"] == "/rest/dmpSegments/{id}/users"
    assert linkedin.calls == []


def test_company_fields(linkedin, lpolicy):
    described = LinkedInAdsConnector(config(linkedin, segment_type="company"), policy=lpolicy).fields().as_dict()
    names = [f["name"] for f in described["fields"]]
    assert names == ["companyName", "organizationUrn", "companyWebsiteDomain", "companyEmailDomain", "companyPageUrl"]
    assert described["object"] == "dmp_segment_company"


def test_identifier_kinds_hash_emails_with_the_named_digest(linkedin, lpolicy):
    described = LinkedInAdsConnector(config(linkedin), policy=lpolicy).fields().as_dict()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["sync_modes"] == ["insert", "mirror"]
    assert (
        prepare(fields["SHA512_EMAIL"]["identifier_kind"], " A@B.co ")["sent"] == hashlib.sha512(b"a@b.co").hexdigest()
    )
    assert prepare(fields["SHA256_EMAIL"]["identifier_kind"], "A@B.co")["sent"] == hashlib.sha256(b"a@b.co").hexdigest()
    assert fields["GOOGLE_AID"]["identifier_kind"]["hash"] == ""
