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


def test_all_steps_pass_and_nothing_is_written(gcs, emulated, config):
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 3
    check = results["bucket_permissions"]
    assert check.details["permissions"] == ["storage.objects.create", "storage.objects.delete", "storage.objects.get"]
    assert check.details["proven"] == ["storage.objects.create"]
    assert "warnings" not in check.details
    assert gcs.calls_to("upload") == [] and gcs.calls_to("object") == []
    assert gcs.buckets["acme-exports"] == {}

    (assertion,) = gcs.assertions
    assert assertion["iss"] == WRITER_EMAIL and assertion["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert assertion["scope"] == STORAGE_SCOPE
    (token,) = gcs.access_tokens
    (permissions_call,) = gcs.calls_to("test_permissions")
    assert permissions_call.headers["Authorization"] == f"Bearer {token}"


def test_a_create_only_account_on_a_retention_locked_bucket_passes(gcs, emulated, config):
    """roles/storage.objectCreator on a compliance bucket: syncs add files and never delete, so the test passes."""
    gcs.granted = {"storage.objects.create"}
    gcs.retention_seconds = 86400 * 365
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 3
    check = results["bucket_permissions"]
    assert check.details["permissions"] == ["storage.objects.create"]
    assert check.details["proven"] == ["storage.objects.create"]
    assert "storage.objects.delete is not held" in check.details["warnings"][0]
    assert gcs.uploaded == []  # no probe object is left in a bucket that could not delete it for a year


def test_the_step_declares_what_it_proves():
    (step,) = [s for s in GcsConnector.steps if s.proves]
    (requirement,) = step.proves
    assert requirement.privilege == "storage.objects.create"
    assert requirement.source == "https://cloud.google.com/storage/docs/json_api/v1/objects/insert"
    assert "testIamPermissions" in requirement.proof


def test_unknown_key_is_auth_invalid(gcs, emulated, config):
    bad = {**config, "service_account_json": json.dumps(service_account_info(gcs, register=False))}
    results = run(bad, emulated)
    assert results["authentication"].error["code"] == "auth_invalid"
    assert results["authentication"].error["vendor_code"] == "invalid_grant"
    assert results["bucket_permissions"].status == SKIPPED
    assert gcs.uploaded == []
    assert_no_secret(results, bad, gcs)


def test_missing_bucket_is_not_found(gcs, emulated, config):
    results = run({**config, "bucket": "no-such-bucket"}, emulated)
    check = results["bucket_permissions"]
    assert check.error["code"] == "not_found"
    assert "The specified bucket does not exist." in check.message
    assert "bucket name" in check.error["remediation"]


def test_missing_create_permission_is_insufficient_and_names_the_role(gcs, emulated, config):
    gcs.granted = {"storage.objects.get", "storage.objects.delete"}
    check = run(config, emulated)["bucket_permissions"]
    assert check.status == FAILED
    assert check.error["code"] == "insufficient_permissions"
    assert check.details["missing"] == ["storage.objects.create"]
    assert "storage.objects.create" in check.message
    assert "roles/storage.objectCreator" in check.error["remediation"]
    assert "Buckets → acme-exports → Permissions" in check.error["remediation"]


def test_no_permission_at_all_names_create(gcs, emulated, config):
    gcs.granted.clear()
    check = run(config, emulated)["bucket_permissions"]
    assert check.details["missing"] == ["storage.objects.create"]
    assert check.details["held"] == []


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
    assert fields.as_dict()["new_fields"] == "*" and fields.as_dict()["sync_modes"] == ["insert"]
    assert fields.options["format_options"]["extension"] == ".csv.gz"
    assert fields.options["format_options"]["delimiter"] == ","
    parquet = GcsConnector({**config, "file_format": "parquet"}).fields().options["format_options"]
    assert parquet["extension"] == ".parquet" and parquet["codec"] == "gzip"
