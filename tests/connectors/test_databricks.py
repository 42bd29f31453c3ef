import json
import time
from datetime import datetime

import pytest

from connectors.databricks import DatabricksConnector
from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from tests.conftest import LOOPBACK
from tests.emulators.databricks import FULL_NAME, WAREHOUSE_ID, DatabricksEmulator, identity_column, valid_config


@pytest.fixture(scope="module")
def server():
    with DatabricksEmulator() as running:
        yield running


@pytest.fixture
def databricks(server):
    server.reset()
    return server


@pytest.fixture
def emulated(databricks):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"databricks": databricks.url})


@pytest.fixture
def config(databricks):
    return valid_config(databricks)


def run(config, policy):
    return {r.name: r for r in DatabricksConnector(config, policy=policy).test()}


def assert_no_secret(results, config):
    assert config["token"] not in json.dumps({name: r.as_dict() for name, r in results.items()})


def step(name):
    return next(s for s in DatabricksConnector.steps if s.name == name)


def test_all_steps_pass(databricks, emulated, config):
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 6
    assert results["authentication"].details == {"principal": "svc-cdp@acme.com"}
    assert results["target"].details == {
        "table": FULL_NAME,
        "table_type": "MANAGED",
        "columns": 6,
        "data_source_format": "DELTA",
    }
    assert results["permission"].details["privileges"] == ["MODIFY", "SELECT"]  # through its group
    assert results["permission"].details["proven"] == ["MODIFY on the table", "SELECT on the table"]
    assert results["warehouse_write_check"].details["proven"] == ["CAN USE on the SQL warehouse"]
    assert results["warehouse_write_check"].details["state"] == "SUCCEEDED"
    for call in databricks.calls:
        if call.endpoint != "root":
            assert call.headers["Authorization"] == f"Bearer {config['token']}"
    assert "Authorization" not in databricks.calls_to("root")[0].headers
    (submit,) = databricks.calls_to("submit")
    body = json.loads(submit.body)
    assert body["warehouse_id"] == WAREHOUSE_ID
    columns = "`contact_id`, `email`, `first_name`, `score`, `attributes`, `updated_at`"
    table = "`main`.`crm`.`contacts`"
    assert body["statement"] == f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE 1 = 0"
    assert results["warehouse"].details["state"] == "RUNNING"
    assert "warnings" not in results["warehouse"].details
    assert body["on_wait_timeout"] == "CONTINUE"
    assert body["wait_timeout"] in {f"{n}s" for n in range(5, 51)}


def test_invalid_token_is_auth_invalid(databricks, emulated, config):
    config["token"] = "dapi" + "0" * 32
    results = run(config, emulated)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["http_status"] == 403
    assert "Invalid access token." in auth.message
    assert "personal access token" in auth.error["remediation"]
    assert {results[s].status for s in ("target", "permission", "warehouse_write_check")} == {SKIPPED}
    assert_no_secret(results, config)


@pytest.mark.parametrize(
    ("field", "value", "vendor_code", "hint"),
    [
        ("table", "missing", "TABLE_DOES_NOT_EXIST", "`table`"),
        ("schema", "nope", "SCHEMA_DOES_NOT_EXIST", "`schema`"),
        ("catalog", "nope", "CATALOG_DOES_NOT_EXIST", "`catalog`"),
    ],
)
def test_missing_target_is_not_found(databricks, emulated, config, field, value, vendor_code, hint):
    results = run({**config, field: value}, emulated)
    target = results["target"]
    assert target.error["code"] == "not_found"
    assert target.error["vendor_code"] == vendor_code
    assert hint in target.error["remediation"]
    assert results["permission"].status == SKIPPED


def test_invisible_table_is_insufficient_permissions(databricks, emulated, config):
    config["token"] = databricks.add_token("intern@acme.com", groups=())
    target = run(config, emulated)["target"]
    assert target.error["code"] == "insufficient_permissions"
    assert target.error["vendor_code"] == "PERMISSION_DENIED"
    assert "USE SCHEMA" in target.message
    assert "USE CATALOG" in target.error["remediation"]


def test_view_is_invalid_config(databricks, emulated, config):
    databricks.tables[FULL_NAME]["table_type"] = "VIEW"
    target = run(config, emulated)["target"]
    assert target.error["code"] == "invalid_config"
    assert "VIEW" in target.message


def test_missing_modify_is_insufficient_and_skips_the_warehouse(databricks, emulated, config):
    config["token"] = databricks.add_token("analyst@acme.com", groups=("analysts",))
    results = run(config, emulated)
    permission = results["permission"]
    assert permission.error["code"] == "insufficient_permissions"
    assert permission.details == {"missing": ["MODIFY"], "held": ["SELECT"]}
    assert "GRANT MODIFY ON TABLE main.crm.contacts" in permission.error["remediation"]
    assert results["warehouse_write_check"].status == SKIPPED
    assert databricks.calls_to("submit") == []  # no warehouse started


def test_owner_needs_no_grants(databricks, emulated, config):
    databricks.tables[FULL_NAME]["owner"] = "svc-cdp@acme.com"
    databricks.grants.clear()
    results = run(config, emulated)
    assert results["permission"].status == PASSED
    assert results["permission"].details["owner"] is True  # an owner holds every privilege on the table
    assert databricks.calls_to("effective_permissions") == []


def test_statement_denied_at_execution_is_insufficient_permissions(databricks, emulated, config):
    config["token"] = databricks.add_token("analyst@acme.com", groups=("analysts",))
    connector = DatabricksConnector(config, policy=emulated)
    result = connector.run_step(step("warehouse_write_check"))
    assert result.error["code"] == "insufficient_permissions"
    assert "INSUFFICIENT_PERMISSIONS" in result.message
    assert result.error["vendor_code"] == "BAD_REQUEST"


def test_unknown_warehouse_is_not_found_before_any_statement(databricks, emulated, config):
    results = run({**config, "warehouse_id": "ffffffffffffffff"}, emulated)
    warehouse = results["warehouse"]
    assert warehouse.error["code"] == "not_found"
    assert warehouse.error["vendor_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "`warehouse_id`" in warehouse.error["remediation"]
    assert results["warehouse_write_check"].status == SKIPPED
    assert databricks.calls_to("submit") == []


def test_warehouse_without_can_use_is_insufficient(databricks, emulated, config):
    databricks.warehouse_users = {"admins"}
    warehouse = run(config, emulated)["warehouse"]
    assert warehouse.error["code"] == "insufficient_permissions"
    assert "CAN USE" in warehouse.error["remediation"]


def test_a_stopped_warehouse_is_reported_before_the_write_check_starts_it(databricks, emulated, config):
    databricks.warehouses[WAREHOUSE_ID] = "STOPPED"
    results = run(config, emulated)
    warehouse = results["warehouse"]
    assert warehouse.status == PASSED
    assert warehouse.details["state"] == "STOPPED"
    assert "will start it" in warehouse.message and "paid compute" in warehouse.message
    assert "10 idle minutes" in warehouse.details["warnings"][0]
    names = [c.endpoint for c in databricks.calls]
    assert names.index("warehouse") < names.index("submit")  # read before anything could start it
    assert results["warehouse_write_check"].status == PASSED
    assert databricks.started == [WAREHOUSE_ID]


def test_a_start_that_outlasts_the_step_is_reported_as_such(databricks, emulated, config):
    databricks.warehouses[WAREHOUSE_ID] = "STOPPED"
    databricks.start_polls = 10_000
    connector = DatabricksConnector(config, policy=emulated)
    assert connector.run_step(step("warehouse")).status == PASSED
    result = connector.run_step(step("warehouse_write_check"), deadline=time.monotonic() + 0.5)
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True
    assert "was STOPPED when the test began and is STARTING now" in result.message
    assert "start outlasted this step" in result.message
    assert result.details == {"warehouse_state_before": "STOPPED", "warehouse_state": "STARTING"}
    assert len(databricks.cancelled) == 1


def test_deleted_warehouse_fails_the_warehouse_step(databricks, emulated, config):
    databricks.warehouses[WAREHOUSE_ID] = "DELETED"
    results = run(config, emulated)
    assert results["warehouse"].error["code"] == "not_found"
    assert results["warehouse_write_check"].status == SKIPPED


def test_a_table_with_an_identity_column_passes_the_write_check(databricks, emulated, config):
    table = databricks.tables[FULL_NAME]
    table["columns"] = [identity_column(0, "row_id"), *[{**c, "position": c["position"] + 1} for c in table["columns"]]]
    results = run(config, emulated)
    write = results["warehouse_write_check"]
    assert write.status == PASSED, write.message
    statement = json.loads(databricks.calls_to("submit")[0].body)["statement"]
    assert "`row_id`" not in statement and "SELECT *" not in statement
    fields = {f.name: f for f in DatabricksConnector(config, policy=emulated).fields().fields}
    assert fields["row_id"].createable is False and fields["row_id"].identifier is False


def test_a_by_default_identity_column_may_be_written(databricks, emulated, config):
    databricks.tables[FULL_NAME]["columns"].append(identity_column(6, "seq", always=False))
    assert run(config, emulated)["warehouse_write_check"].status == PASSED
    assert "`seq`" in json.loads(databricks.calls_to("submit")[0].body)["statement"]


def test_effective_permissions_are_read_per_principal_through_every_page(databricks, emulated, config):
    databricks.grants[FULL_NAME] = {
        "analysts": [("SELECT", "CATALOG", "main")],
        "cdp-writers": [("SELECT", "SCHEMA", "main.crm")],
        "svc-cdp@acme.com": [("MODIFY", None, None)],
    }
    permission = run(config, emulated)["permission"]
    assert permission.status == PASSED, permission.message
    calls = databricks.calls_to("effective_permissions")
    assert all(c.query["max_results"] == "0" and c.query["principal"] for c in calls)
    assert calls[0].query["principal"] == "svc-cdp@acme.com"  # the principal itself first
    assert "page_token" not in calls[0].query and calls[1].query["page_token"] == "1"  # past the empty first page


def test_pending_statement_is_polled_until_done(databricks, emulated, config):
    databricks.pending_polls = 2
    results = run(config, emulated)
    assert results["warehouse_write_check"].status == PASSED
    assert len(databricks.calls_to("statement")) == 3  # RUNNING, RUNNING, SUCCEEDED


def test_statement_running_at_the_deadline_times_out_and_is_cancelled(databricks, emulated, config):
    databricks.pending_polls = 10_000
    connector = DatabricksConnector(config, policy=emulated)
    result = connector.run_step(step("warehouse_write_check"), deadline=time.monotonic() + 0.5)
    assert result.error["code"] == "timeout"
    assert "warehouse may still be starting" in result.error["remediation"]
    assert json.loads(databricks.calls_to("submit")[0].body)["wait_timeout"] == "0s"  # too little time to wait
    assert len(databricks.cancelled) == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (429, None, "rate_limited"),
        (503, None, "vendor_error"),
        (500, "<html>Internal error</html>", "vendor_error"),
        (401, {"error_code": "401", "message": "Credential was not sent."}, "auth_invalid"),
    ],
)
def test_api_errors_map_to_codes(databricks, emulated, config, status, body, code):
    if status == 429:
        databricks.rate_limit("table", retry_after=4)
    elif status == 503:
        databricks.server_error("table")
    else:
        databricks.fail("table", status, body)
    results = run(config, emulated)
    target = results["target"]
    assert target.error["code"] == code
    if status == 429:
        assert target.error["retry_after"] == 4 and target.error["retryable"] is True
    assert_no_secret(results, config)


def test_slow_answer_times_out(databricks, emulated, config):
    databricks.slow("me", 1.0)
    connector = DatabricksConnector(config, policy=emulated)
    result = connector.run_step(step("authentication"), deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_workspace_url_with_a_query_is_reduced_to_its_host(databricks, emulated, config):
    results = run({**config, "host": config["host"] + "/?o=1234567890123456"}, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 6
    assert databricks.calls_to("me")[0].path == "/api/2.0/preview/scim/v2/Me"


def test_connection_refused_skips_everything(config):
    with DatabricksEmulator() as stopped:
        url = stopped.url
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"databricks": url})
    results = run(config, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert {r.status for name, r in results.items() if name != "connectivity"} == {SKIPPED}


def test_config_validation_names_fields():
    errors = DatabricksConnector.validate_config(
        {
            "host": "http://plain.example.com",
            "token": "",
            "warehouse_id": "x/y",
            "catalog": "a.b",
            "schema": "s p",
            "table": "t",
        }
    )
    assert set(errors) == {"config.host", "config.token", "config.warehouse_id", "config.catalog", "config.schema"}
    assert errors["config.host"] == ["Must be the https:// URL of the workspace (the token is sent to it)."]
    assert DatabricksConnector.validate_config({})["config.token"] == ["This field is required."]


def test_fields_come_from_unity_catalog(databricks, emulated, config):
    fields = DatabricksConnector(config, policy=emulated).fields()
    assert fields.source == "live" and fields.object == FULL_NAME
    by_name = {f.name: f for f in fields.fields}
    assert list(by_name) == ["contact_id", "email", "first_name", "score", "attributes", "updated_at"]
    # Every scalar column may be the key (not the DOUBLE score or the MAP); PK and NOT NULL ones are recommended.
    assert [n for n, f in by_name.items() if f.identifier] == ["contact_id", "email", "first_name", "updated_at"]
    assert [n for n, f in by_name.items() if f.recommended_key] == ["contact_id", "email"]
    assert by_name["contact_id"].type == "bigint" and by_name["contact_id"].required
    assert by_name["first_name"].nullable is True and not by_name["first_name"].required
    assert fields.options["key_source"] == "primary_key"
    assert fields.options["recommended_keys"] == ["contact_id", "email"]
    assert by_name["contact_id"].data_type == "integer" and by_name["score"].data_type == "number"
    assert by_name["attributes"].data_type == "json" and by_name["updated_at"].data_type == "datetime"
    assert by_name["contact_id"].unique is True and by_name["email"].unique is False  # only the primary key
    assert fields.sync_modes == ("insert", "update", "upsert")


def test_fields_without_primary_key_still_offer_keys(databricks, emulated, config):
    del databricks.tables[FULL_NAME]["table_constraints"]
    fields = DatabricksConnector(config, policy=emulated).fields()
    assert [f.name for f in fields.fields if f.recommended_key] == ["contact_id", "email"]
    assert fields.options["key_source"] == "not_null_columns"


def test_fields_vendor_failure_raises(databricks, emulated, config):
    with pytest.raises(ConnectorError) as raised:
        DatabricksConnector({**config, "table": "gone"}, policy=emulated).fields()
    assert raised.value.code == "not_found"


def test_a_token_with_a_lifetime_reports_its_expiry_time(databricks, emulated, config):
    token = databricks.add_token("expiring@acme.com", lifetime_seconds=10 * 86400)
    auth = run({**config, "token": token}, emulated)["authentication"]
    assert auth.status == PASSED
    [expiry] = auth.details["expires"]
    assert expiry["credential"] == "personal_access_token"
    listed = databricks.token_infos[token]["expiry_time"] / 1000
    assert abs(datetime.fromisoformat(expiry["expires_at"]).timestamp() - listed) < 1
    assert "Access tokens" in expiry["remedy"]
    assert databricks.calls_to("token_list")


def test_a_token_without_lifetime_or_among_several_reports_no_expiry(databricks, emulated, config):
    auth = run(config, emulated)["authentication"]  # created without a lifetime: expiry_time -1
    assert auth.status == PASSED and "expires" not in auth.details
    first = databricks.add_token("two@acme.com", lifetime_seconds=86400)
    databricks.add_token("two@acme.com", lifetime_seconds=5 * 86400)
    auth = run({**config, "token": first}, emulated)["authentication"]
    assert "expires" not in auth.details
    assert "holds 2 tokens" in auth.details["expiry_unknown"]
