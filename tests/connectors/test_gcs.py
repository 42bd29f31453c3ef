import json
import time

import pytest

from connectors.gcs import GcsConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.bigquery import GOOGLE_TOKEN_AUDIENCE, WRITER_EMAIL, service_account_info
from tests.emulators.gcs import STORAGE_SCOPE, GcsEmulator, valid_config


@pytest.fixture(scope="module")
def server():
    with GcsEmulator() as running:
        yield running


@pytest.fixture
def gcs(server):
    server.reset()
    return server


@pytest.fixture
def emulated(gcs):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"gcs": gcs.url})


@pytest.fixture
def config(gcs):
    return valid_config(gcs)


def run(config, policy):
    return {r.name: r for r in GcsConnector(config, policy=policy).test()}


def assert_no_secret(results, config, gcs):
    dumped = json.dumps({name: r.as_dict() for name, r in results.items()})
    assert json.loads(config["service_account_json"])["private_key"] not in dumped
    assert "PRIVATE KEY" not in dumped
    for token in gcs.access_tokens:
        assert token not in dumped


def test_all_steps_pass_and_the_probe_is_removed(gcs, emulated, config):
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert results["bucket_permissions"].details["permissions"] == [
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
    ]
    probe = results["write_probe"].details["object"]
    assert probe.startswith("crm/daily/_connection_test/") and probe.endswith(".txt")
    assert results["write_probe"].details["deleted"] is True
    assert gcs.uploaded == [probe] and gcs.deleted == [probe]
    assert gcs.buckets["acme-exports"] == {}

    (assertion,) = gcs.assertions
    assert assertion["iss"] == WRITER_EMAIL and assertion["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert assertion["scope"] == STORAGE_SCOPE
    (token,) = gcs.access_tokens
    (permissions_call,) = gcs.calls_to("test_permissions")
    assert permissions_call.headers["Authorization"] == f"Bearer {token}"
    (upload,) = gcs.calls_to("upload")
    assert upload.query == {"uploadType": "media", "name": probe}
    assert upload.headers["Content-Type"] == "text/plain"
    assert b"Connection test" in upload.body
    (delete,) = gcs.calls_to("object")
    assert delete.method == "DELETE" and delete.headers["Authorization"] == f"Bearer {token}"


def test_probe_without_prefix_lands_at_the_bucket_root(gcs, emulated, config):
    results = run({**config, "prefix": "/"}, emulated)
    assert results["write_probe"].details["object"].startswith("_connection_test/")


def test_unknown_key_is_auth_invalid(gcs, emulated, config):
    bad = {**config, "service_account_json": json.dumps(service_account_info(gcs, register=False))}
    results = run(bad, emulated)
    assert results["authentication"].error["code"] == "auth_invalid"
    assert results["authentication"].error["vendor_code"] == "invalid_grant"
    assert {results[s].status for s in ("bucket_permissions", "write_probe")} == {SKIPPED}
    assert gcs.uploaded == []
    assert_no_secret(results, bad, gcs)


def test_missing_bucket_is_not_found(gcs, emulated, config):
    results = run({**config, "bucket": "no-such-bucket"}, emulated)
    check = results["bucket_permissions"]
    assert check.error["code"] == "not_found"
    assert "The specified bucket does not exist." in check.message
    assert "bucket name" in check.error["remediation"]
    assert results["write_probe"].status == SKIPPED


def test_missing_delete_permission_is_insufficient(gcs, emulated, config):
    gcs.granted.discard("storage.objects.delete")
    results = run(config, emulated)
    check = results["bucket_permissions"]
    assert check.error["code"] == "insufficient_permissions"
    assert check.details["missing"] == ["storage.objects.delete"]
    assert "objectAdmin" in check.error["remediation"]
    assert results["write_probe"].status == SKIPPED
    assert gcs.uploaded == []


def test_no_permission_at_all_lists_both(gcs, emulated, config):
    gcs.granted.clear()
    check = run(config, emulated)["bucket_permissions"]
    assert check.details["missing"] == ["storage.objects.create", "storage.objects.delete"]


def test_upload_refused_fails_the_probe(gcs, emulated, config):
    message = f"{WRITER_EMAIL} does not have storage.objects.create access to the Google Cloud Storage object."
    body = {"error": {"code": 403, "message": message, "errors": [{"reason": "forbidden", "message": message}]}}
    gcs.fail("upload", 403, body)
    probe = run(config, emulated)["write_probe"]
    assert probe.status == FAILED
    assert probe.error["code"] == "insufficient_permissions"
    assert probe.error["vendor_code"] == "forbidden"
    assert "storage.objects.create" in probe.message


def test_probe_that_cannot_be_deleted_says_so(gcs, emulated, config):
    body = {"error": {"code": 403, "message": "retention policy", "errors": [{"reason": "forbidden"}]}}
    gcs.fail("object", 403, body)
    probe = run(config, emulated)["write_probe"]
    assert probe.error["code"] == "insufficient_permissions"
    assert "was written but could not be deleted" in probe.message
    assert probe.details["written"] is True and probe.details["deleted"] is False
    assert probe.details["object"] in gcs.buckets["acme-exports"]


def test_scope_refusal_is_reported_as_a_bug(gcs, emulated, config):
    body = {
        "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "errors": [{"reason": "insufficientPermissions"}],
            "status": "PERMISSION_DENIED",
        }
    }
    gcs.fail("test_permissions", 403, body)
    check = run(config, emulated)["bucket_permissions"]
    assert check.error["code"] == "insufficient_permissions"
    assert "scope" in check.error["remediation"]


@pytest.mark.parametrize(
    ("steer", "code"),
    [
        (lambda gcs: gcs.rate_limit("test_permissions", retry_after=9), "rate_limited"),
        (lambda gcs: gcs.server_error("test_permissions"), "vendor_error"),
    ],
)
def test_api_errors_map_to_codes(gcs, emulated, config, steer, code):
    steer(gcs)
    results = run(config, emulated)
    check = results["bucket_permissions"]
    assert check.error["code"] == code
    assert check.error["retryable"] is True
    if code == "rate_limited":
        assert check.error["retry_after"] == 9
    assert_no_secret(results, config, gcs)


def test_token_expired_between_calls_is_auth_invalid(gcs, emulated, config):
    connector = GcsConnector(config, policy=emulated)
    connector.authenticate()
    gcs.expire_tokens()
    result = connector.run_step(connector.steps[2])
    assert result.error["code"] == "auth_invalid"
    assert result.error["vendor_code"] == "authError"


def test_slow_answer_times_out(gcs, emulated, config):
    gcs.slow("test_permissions", 1.0)
    connector = GcsConnector(config, policy=emulated)
    connector.authenticate()
    result = connector.run_step(connector.steps[2], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields(gcs):
    errors = GcsConnector.validate_config(
        {"service_account_json": "[]", "bucket": "Bad_Bucket!", "file_format": "xml", "compression": "zip"}
    )
    assert set(errors) == {"config.bucket", "config.file_format", "config.compression"}
    good = valid_config(gcs)
    assert GcsConnector.validate_config(good) == {}
    errors = GcsConnector.validate_config({**good, "service_account_json": "[]"})
    assert list(errors) == ["config.service_account_json"]
    info = json.loads(good["service_account_json"])
    info["type"] = "authorized_user"
    errors = GcsConnector.validate_config({**good, "service_account_json": json.dumps(info)})
    assert '"type"' in errors["config.service_account_json"][0]


def test_fields_are_free_form_with_format_options(gcs, config):
    fields = GcsConnector(config).fields()
    assert fields.source == "static" and fields.fields == []
    assert fields.object == "gs://acme-exports/crm/daily/"
    assert fields.options["free_form"] is True
    assert fields.options["format_options"]["extension"] == ".csv.gz"
    assert fields.options["format_options"]["delimiter"] == ","
    parquet = GcsConnector({**config, "file_format": "parquet"}).fields().options["format_options"]
    assert parquet["extension"] == ".parquet" and parquet["codec"] == "gzip"
