import json
import time

import pytest

from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.the_trade_desk import TheTradeDeskConnector
from tests.conftest import LOOPBACK
from tests.emulators import the_trade_desk as emu

STEPS = ("connectivity", "authentication", "advertiser", "segment", "data_access")


@pytest.fixture(scope="module")
def _server():
    with emu.TheTradeDeskEmulator() as server:
        yield server


@pytest.fixture
def ttd(_server):
    _server.reset()
    return _server


@pytest.fixture
def tpolicy(ttd):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"the_trade_desk": ttd.url})


def config(ttd, **overrides):
    return {**emu.valid_config(ttd), **overrides}


def run(cfg, policy):
    return {r.name: r for r in TheTradeDeskConnector(cfg, policy=policy).test()}


def assert_no_secrets(result):
    assert emu.API_TOKEN not in json.dumps(result.as_dict())


def test_all_steps_pass_and_nothing_is_written(ttd, tpolicy):
    results = run(config(ttd), tpolicy)
    assert [results[s].status for s in STEPS] == [PASSED] * 5
    assert results["advertiser"].details["name"] == "CDP Brand"
    assert results["advertiser"].details["partner_id"] == "ptn7emu"
    assert results["segment"].details == {
        "exists": True,
        "segment_name": emu.SEGMENT_NAME,
        "first_party_data_id": "90000001",
        "unique_id_count": 5400,
    }
    assert results["data_access"].details["http_status"] == 400
    assert "nothing was written" in results["data_access"].message
    assert "refused the upload only for its missing items" in results["data_access"].message

    # GraphQL (the advertiser query, once, and its firstPartyData), then the data server; no REST v3 endpoints
    assert [c.path for c in ttd.calls if c.endpoint] == ["/graphql", "/graphql", "/data/advertiser"]
    assert all(c.headers["Ttd-Auth"] == emu.API_TOKEN for c in ttd.calls if c.endpoint)
    advertiser_query, segment_query = (json.loads(c.body) for c in ttd.calls_to("graphql"))
    assert advertiser_query["variables"] == {"id": emu.ADVERTISER_ID}
    assert "advertiser(id: $id)" in advertiser_query["query"]
    assert segment_query["variables"] == {"id": emu.ADVERTISER_ID, "name": emu.SEGMENT_NAME}
    assert "firstPartyData" in segment_query["query"]
    assert json.loads(ttd.calls_to("data")[0].body) == {"AdvertiserId": emu.ADVERTISER_ID, "Items": []}
    assert ttd.items == []


@pytest.mark.parametrize("version", [1, 2])
def test_the_missing_items_answer_passes_in_either_response_version(ttd, tpolicy, version):
    ttd.response_version = version
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.status == PASSED
    assert result.details["http_status"] == 400
    assert result.details["proven"] == ["first-party data upload for the advertiser (Data API)"]


@pytest.mark.parametrize("version", [1, 2])
def test_an_advertiser_not_configured_for_data_fails_with_what_to_do(ttd, tpolicy, version):
    ttd.response_version = version
    ttd.not_configured.add(emu.ADVERTISER_ID)
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.status == FAILED
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "TargetingDataDisabled"
    remedy = result.error["remediation"]
    assert f"enable first-party data uploads (Data API) for advertiser {emu.ADVERTISER_ID}" in remedy
    assert ttd.items == []


@pytest.mark.parametrize("version", [1, 2])
def test_a_policy_restriction_fails_with_what_to_do(ttd, tpolicy, version):
    ttd.response_version = version
    ttd.policy_restricted.add(emu.ADVERTISER_ID)
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["vendor_code"] == "TenantRestrictionsExternalData"
    assert "tenant restrictions on external data" in result.error["remediation"]


@pytest.mark.parametrize(
    ("body", "remedy"),
    [
        ("Advertiser is not configured for first-party data.", "enable first-party data uploads"),
        ("Request refused by data policy.", "data policy"),
    ],
)
def test_a_plain_text_refusal_is_read_as_the_sdk_reads_it(ttd, tpolicy, body, remedy):
    ttd.empty_upload_body = body
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.error["code"] == "insufficient_permissions"
    assert remedy in result.error["remediation"]
    assert body.rstrip(".") in result.message


@pytest.mark.parametrize("body", [{}, "", {"FailedLines": [{"ErrorCode": "Unknown", "Message": "?"}]}])
def test_any_other_400_is_not_taken_for_missing_items(ttd, tpolicy, body):
    ttd.empty_upload_body = body
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.status == FAILED
    assert result.error["code"] == "invalid_config"
    assert "another reason than the missing items" in result.error["remediation"]


def test_empty_upload_answered_200_also_passes(ttd, tpolicy):
    ttd.empty_items_status = 200
    ttd.empty_upload_body = {"FailedLines": []}
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.status == PASSED
    assert result.details["http_status"] == 200


def test_missing_segment_is_reported_not_failed(ttd, tpolicy):
    results = run(config(ttd, segment_name="brand_new_segment"), tpolicy)
    assert results["segment"].status == PASSED
    assert results["segment"].details["exists"] is False
    assert "creates it on the first upload" in results["segment"].message


def test_invalid_token_is_auth_invalid(ttd, tpolicy):
    results = run(config(ttd, api_token="ttd-wrong-token-value"), tpolicy)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["http_status"] == 401
    assert auth.error["vendor_code"] == "AUTH_NOT_AUTHENTICATED"
    assert "Access Management" in auth.error["remediation"]
    assert all(results[s].status == SKIPPED for s in STEPS[2:])
    assert "ttd-wrong-token-value" not in json.dumps(auth.as_dict())


def test_expired_token_is_token_expired(ttd, tpolicy):
    ttd.tokens[emu.API_TOKEN]["expired"] = True
    auth = run(config(ttd), tpolicy)["authentication"]
    assert auth.error["code"] == "token_expired"
    assert auth.error["retryable"] is False
    assert_no_secrets(auth)


def test_advertiser_the_token_cannot_see(ttd, tpolicy):
    ttd.tokens[emu.API_TOKEN]["advertisers"] = set()
    results = run(config(ttd), tpolicy)
    assert results["authentication"].status == PASSED
    assert results["advertiser"].error["code"] == "insufficient_permissions"
    assert results["advertiser"].error["vendor_code"] == "AUTH_NOT_AUTHORIZED"
    assert "not authorized" in results["advertiser"].message
    assert results["segment"].status == SKIPPED
    assert results["data_access"].status == SKIPPED


def test_unknown_advertiser_is_not_found(ttd, tpolicy):
    results = run(config(ttd, advertiser_id="nope123"), tpolicy)
    assert results["advertiser"].error["code"] == "not_found"
    assert "advertiser_id nope123" in results["advertiser"].error["remediation"]


def test_archived_advertiser(ttd, tpolicy):
    ttd.advertisers[emu.ADVERTISER_ID]["isArchived"] = True
    result = run(config(ttd), tpolicy)["advertiser"]
    assert result.error["code"] == "invalid_config"
    assert "archived" in result.message


def test_advertiser_not_enabled_for_data(ttd, tpolicy):
    ttd.data_enabled = set()
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.error["code"] == "insufficient_permissions"
    assert result.error["http_status"] == 403
    assert "HTTP 403" in result.message and "usw data server" in result.message
    assert "usw data server" in result.error["remediation"]
    assert_no_secrets(result)


def test_data_server_rejects_the_token(ttd, tpolicy):
    ttd.fail("data", 401, "Invalid or missing authentication token.")
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.error["code"] == "auth_invalid"
    assert "Access Management" in result.error["remediation"]


def test_segment_lookup_failure_does_not_block_the_data_check(ttd, tpolicy):
    ttd.segment_lookup_status = 500
    results = run(config(ttd), tpolicy)
    assert results["segment"].error["code"] == "vendor_error"
    assert results["segment"].error["retryable"] is True
    assert results["data_access"].status == PASSED


def test_rate_limit_reports_retry_after(ttd, tpolicy):
    ttd.fail("data", 429, emu.RATE_LIMITED, headers={"Retry-After": "20"})
    result = run(config(ttd), tpolicy)["data_access"]
    assert result.error["code"] == "rate_limited"
    assert result.error["retry_after"] == 20
    assert result.error["retryable"] is True


def test_platform_outage_is_vendor_error(ttd, tpolicy):
    ttd.fail("graphql", 503, emu.SERVER_ERROR, headers={"Retry-After": "5"})
    result = run(config(ttd), tpolicy)["authentication"]
    assert result.error["code"] == "vendor_error"
    assert result.error["retryable"] is True


def test_each_region_uses_its_data_server_host():
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK))
    assert TheTradeDeskConnector({"data_server": "euw"}, policy=policy).data_server == "https://euw-data.adsrvr.org"
    assert TheTradeDeskConnector({"data_server": "cn"}, policy=policy).data_server == "https://data-cn2.adsrvr.cn"


def test_slow_data_server_times_out(ttd, tpolicy):
    ttd.slow("data", 1.0)
    connector = TheTradeDeskConnector(config(ttd), policy=tpolicy)
    result = connector.run_step(connector.steps[4], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields():
    errors = TheTradeDeskConnector.validate_config(
        {"data_server": "eu", "advertiser_id": "adv-1", "api_token": "t", "segment_name": "", "ttl_days": 365}
    )
    assert set(errors) == {"config.data_server", "config.advertiser_id", "config.segment_name", "config.ttl_days"}
    assert TheTradeDeskConnector.validate_config({})["config.api_token"] == ["This field is required."]


def test_secrets_are_write_only():
    assert TheTradeDeskConnector.secret_fields() == ["api_token"]


def test_fields_are_the_id_types(ttd, tpolicy):
    described = TheTradeDeskConnector(config(ttd, ttl_days=7), policy=tpolicy).fields().as_dict()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["source"] == "static"
    assert {"TDID", "DAID", "UID2", "UID2Token", "EUID", "RampID", "ID5"} <= set(fields)
    assert all(f["identifier"] and not f["must_hash"] for f in fields.values())
    assert described["options"]["ttl_in_minutes"] == 7 * 1440
    assert described["sync_modes"] == ["insert", "mirror"]
    assert fields["TDID"]["identifier_kind"]["hash"] == "" and fields["TDID"]["identifier_kind"]["normalize"] == [
        "trim"
    ]
    assert ttd.calls == []
