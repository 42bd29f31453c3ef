import json
import time

import pytest

from connectors.bigquery import BigQueryConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.bigquery import (
    BIGQUERY_SCOPE,
    GOOGLE_TOKEN_AUDIENCE,
    WRITER_EMAIL,
    BigQueryEmulator,
    service_account_info,
    valid_config,
)


@pytest.fixture(scope="module")
def server():
    with BigQueryEmulator() as running:
        yield running


@pytest.fixture
def bigquery(server):
    server.reset()
    return server


@pytest.fixture
def emulated(bigquery):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"bigquery": bigquery.url})


@pytest.fixture
def config(bigquery):
    return valid_config(bigquery)


def run(config, policy):
    return {r.name: r for r in BigQueryConnector(config, policy=policy).test()}


def assert_no_secret(results, config, bigquery):
    dumped = json.dumps({name: r.as_dict() for name, r in results.items()})
    key = json.loads(config["service_account_json"])["private_key"]
    assert key not in dumped and "PRIVATE KEY" not in dumped
    for token in bigquery.access_tokens:
        assert token not in dumped


def google_error(status, reason, message, status_text):
    return {
        "error": {
            "code": status,
            "message": message,
            "status": status_text,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def test_all_steps_pass(bigquery, emulated, config):
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 5
    assert results["authentication"].details["client_email"] == WRITER_EMAIL
    assert results["target"].details == {
        "table": "acme-data.crm.customers",
        "type": "TABLE",
        "location": "US",
        "columns": 7,
    }
    assert results["permission"].details["permissions"] == [
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.updateData",
    ]
    assert results["dry_run"].details["total_bytes_processed"] == "0" and results["dry_run"].details["dry_run"] is True

    (assertion,) = bigquery.assertions  # one token exchange, reused by every later call
    assert assertion["iss"] == WRITER_EMAIL
    assert assertion["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert assertion["scope"] == BIGQUERY_SCOPE
    (token,) = bigquery.access_tokens
    for endpoint in ("tables_get", "test_iam_permissions", "query"):
        (call,) = bigquery.calls_to(endpoint)
        assert call.headers["Authorization"] == f"Bearer {token}"
    assert json.loads(bigquery.calls_to("test_iam_permissions")[0].body)["permissions"][-1] == (
        "bigquery.tables.updateData"
    )
    query = json.loads(bigquery.calls_to("query")[0].body)
    assert query["dryRun"] is True and query["useLegacySql"] is False and query["location"] == "US"
    assert query["query"] == "INSERT INTO `acme-data.crm.customers` SELECT * FROM `acme-data.crm.customers` WHERE FALSE"


def test_key_not_registered_is_auth_invalid(bigquery, emulated, config):
    info = service_account_info(bigquery, register=False)  # a key Google does not know for this account
    results = run({**config, "service_account_json": json.dumps(info)}, emulated)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "invalid_grant"
    assert auth.error["http_status"] == 400
    assert "Invalid JWT Signature" in auth.message
    assert "new key" in auth.error["remediation"]
    assert {results[s].status for s in ("target", "permission", "dry_run")} == {SKIPPED}
    assert_no_secret(results, {**config, "service_account_json": json.dumps(info)}, bigquery)


def test_deleted_service_account_is_auth_invalid(bigquery, emulated, config):
    bigquery.disabled_accounts.add(WRITER_EMAIL)
    auth = run(config, emulated)["authentication"]
    assert auth.error["code"] == "auth_invalid"
    assert "account not found" in auth.message


@pytest.mark.parametrize(("status", "code"), [(503, "vendor_error"), (429, "rate_limited")])
def test_token_endpoint_trouble_is_reported_without_retry_loops(bigquery, emulated, config, status, code):
    bigquery.fail("token", status, {"error": "temporarily_unavailable"}, headers={"Retry-After": "12"})
    started = time.monotonic()
    auth = run(config, emulated)["authentication"]
    assert time.monotonic() - started < 2
    assert auth.error["code"] == code
    assert auth.error["retryable"] is True
    assert len(bigquery.calls_to("token")) == 2  # connectivity's GET, then one exchange
    if status == 429:
        assert auth.error["retry_after"] == 12


def test_missing_table_is_not_found(bigquery, emulated, config):
    results = run({**config, "table": "nope"}, emulated)
    assert results["target"].error["code"] == "not_found"
    assert results["target"].error["vendor_code"] == "notFound"
    assert "Not found: Table acme-data:crm.nope" in results["target"].message
    assert "dataset and table names" in results["target"].error["remediation"]
    assert results["permission"].status == SKIPPED


def test_missing_dataset_is_not_found(bigquery, emulated, config):
    target = run({**config, "dataset": "nope"}, emulated)["target"]
    assert target.error["code"] == "not_found"
    assert "Dataset acme-data:nope" in target.message


def test_no_read_access_is_insufficient_permissions(bigquery, emulated, config):
    bigquery.granted.discard("bigquery.tables.get")
    target = run(config, emulated)["target"]
    assert target.error["code"] == "insufficient_permissions"
    assert target.error["vendor_code"] == "accessDenied"
    assert "roles/bigquery.dataEditor" in target.error["remediation"]


def test_view_is_invalid_config(bigquery, emulated, config):
    bigquery.tables[("acme-data", "crm")]["customers"]["type"] = "VIEW"
    target = run(config, emulated)["target"]
    assert target.error["code"] == "invalid_config"
    assert "VIEW" in target.message


def test_location_mismatch_names_the_right_location(bigquery, emulated, config):
    target = run({**config, "location": "EU"}, emulated)["target"]
    assert target.error["code"] == "invalid_config"
    assert "`location` to US" in target.error["remediation"]


def test_missing_update_permission_is_insufficient_and_skips_the_dry_run(bigquery, emulated, config):
    bigquery.granted.discard("bigquery.tables.updateData")
    results = run(config, emulated)
    permission = results["permission"]
    assert permission.error["code"] == "insufficient_permissions"
    assert permission.details["missing"] == ["bigquery.tables.updateData"]
    assert "bigquery.tables.updateData" in permission.message
    assert results["dry_run"].status == SKIPPED


def test_the_steps_declare_what_they_prove(bigquery, emulated, config):
    results = run(config, emulated)
    assert results["permission"].details["proven"] == ["bigquery.tables.updateData", "bigquery.tables.getData"]
    assert results["dry_run"].details["proven"] == ["bigquery.jobs.create on the project"]
    dry_run = next(step for step in BigQueryConnector.steps if step.name == "dry_run")
    assert "write access to the table" not in dry_run.description
    assert "write access is proven by the permission step" in dry_run.description


def test_a_dry_run_alone_proves_no_write_access(bigquery, emulated, config):
    """Why write access rests on testIamPermissions: a dry run needs only bigquery.jobs.create."""
    bigquery.granted.discard("bigquery.tables.updateData")
    connector = BigQueryConnector(config, policy=emulated)
    (dry_run,) = [step for step in connector.steps if step.name == "dry_run"]
    assert connector.run_step(dry_run).status == PASSED


def test_missing_job_permission_fails_the_dry_run(bigquery, emulated, config):
    bigquery.granted.discard("bigquery.jobs.create")
    dry_run = run(config, emulated)["dry_run"]
    assert dry_run.error["code"] == "insufficient_permissions"
    assert "bigquery.jobs.create" in dry_run.message
    assert "jobUser" in dry_run.error["remediation"]


@pytest.mark.parametrize(
    ("status", "reason", "code", "retryable"),
    [
        (429, "rateLimitExceeded", "rate_limited", True),
        (403, "quotaExceeded", "rate_limited", True),
        (500, "backendError", "vendor_error", True),
        (401, "authError", "auth_invalid", False),
    ],
)
def test_api_errors_map_to_codes(bigquery, emulated, config, status, reason, code, retryable):
    headers = {"Retry-After": "5"} if status == 429 else None
    bigquery.fail("tables_get", status, google_error(status, reason, "Something happened.", "X"), headers=headers)
    results = run(config, emulated)
    target = results["target"]
    assert target.error["code"] == code
    assert target.error["retryable"] is retryable
    assert target.error["vendor_code"] == reason
    if status == 429:
        assert target.error["retry_after"] == 5
    assert_no_secret(results, config, bigquery)


def test_slow_answer_times_out(bigquery, emulated, config):
    bigquery.slow("tables_get", 1.0)
    connector = BigQueryConnector(config, policy=emulated)
    connector.authenticate()
    result = connector.run_step(connector.steps[2], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_config_validation_names_fields(bigquery):
    errors = BigQueryConnector.validate_config(
        {"service_account_json": "{not json", "project_id": "X", "dataset": "a-b"}
    )
    assert set(errors) == {"config.project_id", "config.dataset", "config.table"}
    base = {"project_id": "acme-data", "dataset": "crm", "table": "customers"}
    assert list(BigQueryConnector.validate_config({**base, "service_account_json": "{not json"})) == [
        "config.service_account_json"
    ]
    info = service_account_info(bigquery, register=False)
    del info["client_email"]
    info["private_key"] = "garbage"
    errors = BigQueryConnector.validate_config({**base, "service_account_json": json.dumps(info)})
    messages = errors["config.service_account_json"]
    assert any('"client_email"' in m for m in messages)
    assert any('"private_key"' in m for m in messages)
    assert "garbage" not in str(errors)
    assert BigQueryConnector.validate_config(valid_config(bigquery)) == {}


def test_fields_come_from_the_table_schema(bigquery, emulated, config):
    fields = BigQueryConnector(config, policy=emulated).fields()
    assert fields.source == "live" and fields.object == "acme-data.crm.customers"
    by_name = {f.name: f for f in fields.fields}
    # Every scalar column may be the key (not FLOAT, REPEATED or RECORD); the PK and REQUIRED ones are recommended.
    assert [n for n, f in by_name.items() if f.identifier] == ["customer_id", "email", "lifetime_value", "updated_at"]
    assert [n for n, f in by_name.items() if f.recommended_key] == ["customer_id", "updated_at"]
    assert fields.options["recommended_keys"] == ["customer_id", "updated_at"]
    assert by_name["customer_id"].required and by_name["customer_id"].nullable is False
    assert by_name["updated_at"].required is False  # REQUIRED with a default
    assert by_name["tags"].type == "ARRAY<STRING>"
    assert by_name["email"].description == "Primary e-mail"
    assert fields.options["key_source"] == "primary_key"
    assert fields.options["primary_key"] == ["customer_id"]


def test_fields_are_typed_from_the_table_schema(bigquery, emulated, config):
    fields = BigQueryConnector(config, policy=emulated).fields()
    by_name = {f.name: f for f in fields.fields}
    assert by_name["lifetime_value"].data_type == "number" and by_name["score"].data_type == "number"
    assert by_name["tags"].data_type == "array"  # REPEATED
    assert by_name["address"].data_type == "json"  # RECORD
    assert by_name["updated_at"].data_type == "datetime"
    assert by_name["email"].max_length == 320 and by_name["customer_id"].max_length is None
    assert by_name["customer_id"].unique is True and by_name["email"].unique is False
    assert fields.sync_modes == ("insert", "update", "upsert")


def test_a_typical_table_of_nullable_columns_still_offers_keys(bigquery, emulated, config):
    table = bigquery.tables[("acme-data", "crm")]["customers"]
    del table["tableConstraints"]
    for column in table["schema"]["fields"]:
        column["mode"] = "REPEATED" if column["mode"] == "REPEATED" else "NULLABLE"
    fields = BigQueryConnector(config, policy=emulated).fields()
    assert [f.name for f in fields.fields if f.identifier] == ["customer_id", "email", "lifetime_value", "updated_at"]
    assert not any(f.recommended_key for f in fields.fields)
    assert fields.options["key_source"] == "any_scalar_column"
    assert fields.as_dict()["fields"][0]["recommended_key"] is False


def test_fields_vendor_failure_raises(bigquery, emulated, config):
    with pytest.raises(ConnectorError) as raised:
        BigQueryConnector({**config, "table": "gone"}, policy=emulated).fields()
    assert raised.value.code == "not_found"
