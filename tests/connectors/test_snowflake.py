import json
import time

import jwt
import pytest

from connectors.runtime.base import FAILED, PASSED, SKIPPED
from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.snowflake import SnowflakeConnector
from tests.conftest import LOOPBACK
from tests.emulators.snowflake import (
    SnowflakeEmulator,
    column,
    fingerprint,
    generate_private_key,
    private_key_pem,
    valid_config,
)


@pytest.fixture(scope="module")
def key():
    return generate_private_key()


@pytest.fixture(scope="module")
def server():
    with SnowflakeEmulator() as running:
        yield running


@pytest.fixture
def snowflake(server):
    server.reset()
    return server


@pytest.fixture
def emulated(snowflake):
    return OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"snowflake": snowflake.url})


@pytest.fixture
def config(snowflake, key):
    snowflake.register_key("loader", key.public_key(), roles=("LOADER_ROLE",), default_role="LOADER_ROLE")
    return {**valid_config(snowflake), "private_key": private_key_pem(key)}


def run(config, policy):
    return {r.name: r for r in SnowflakeConnector(config, policy=policy).test()}


def secrets_of(config, snowflake):
    values = [config["private_key"], config.get("private_key_passphrase")]
    values += [c.headers.get("Authorization", "").removeprefix("Bearer ") for c in snowflake.calls]
    return [v for v in values if v]


def assert_no_secret(results, config, snowflake):
    dumped = json.dumps({name: r.as_dict() for name, r in results.items()})
    for value in secrets_of(config, snowflake):
        assert value not in dumped
    assert "PRIVATE KEY" not in dumped


def test_all_steps_pass_with_a_keypair_jwt(snowflake, emulated, config, key):
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert results["connectivity"].details["http_status"] == 200
    assert results["connectivity"].details["host"] == "127.0.0.1"  # CONNECTOR_BASE_URLS redirected the account host
    assert results["authentication"].details == {"user": "LOADER", "role": "LOADER_ROLE"}
    assert results["target"].details == {"table": "ANALYTICS.PUBLIC.CUSTOMERS", "columns": 6, "primary_key": ["ID"]}
    assert results["write_permission"].details["rows_inserted"] == 0
    assert results["write_permission"].details["warehouse"] == "COMPUTE_WH"

    submits = snowflake.calls_to("submit")
    assert len(submits) == 4
    for call in submits:
        assert call.headers["X-Snowflake-Authorization-Token-Type"] == "KEYPAIR_JWT"
        assert call.headers["User-Agent"]
        assert call.query["requestId"]
        token = call.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, key.public_key(), algorithms=["RS256"])
        assert claims["sub"] == "TESTORG-TESTACCT.LOADER"
        assert claims["iss"] == f"TESTORG-TESTACCT.LOADER.{fingerprint(key.public_key())}"
        assert claims["exp"] - claims["iat"] <= 3600
    bodies = [json.loads(call.body) for call in submits]
    assert bodies[0]["statement"].startswith("SELECT CURRENT_USER()")
    assert bodies[1]["statement"] == "DESCRIBE TABLE analytics.public.customers"
    table = "analytics.public.customers"
    # An explicit column list without the VIRTUAL EMAIL_DOMAIN: a computed column takes no value.
    columns = '"ID", "EMAIL", "FIRST_NAME", "ATTRIBUTES", "CREATED_AT"'
    assert bodies[2]["statement"] == f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE 1=0"
    assert bodies[3]["statement"] == f'UPDATE {table} SET "ID" = "ID" WHERE 1=0'
    # The body's names are case-sensitive: sent as Snowflake stores them, though the user typed lower case.
    assert all(b["role"] == "LOADER_ROLE" and (b["database"], b["schema"]) == ("ANALYTICS", "PUBLIC") for b in bodies)
    assert [b.get("warehouse") for b in bodies] == [None, None, "COMPUTE_WH", "COMPUTE_WH"]  # only the write check
    assert snowflake.resumed_warehouses == ["COMPUTE_WH", "COMPUTE_WH"]
    assert results["write_permission"].details["proven"] == [
        "INSERT on the table",
        "UPDATE on the table",
        "USAGE on the warehouse",
    ]


def test_encrypted_private_key_with_its_passphrase_passes(snowflake, emulated, key):
    config = valid_config(snowflake)
    other = generate_private_key()
    snowflake.register_key("loader", other.public_key(), roles=("LOADER_ROLE",))
    config.update(private_key=private_key_pem(other, "s3cret-pass"), private_key_passphrase="s3cret-pass")
    assert SnowflakeConnector.validate_config(config) == {}
    assert run(config, emulated)["authentication"].status == PASSED


def test_unregistered_key_is_auth_invalid_and_skips_the_rest(snowflake, emulated, config):
    config["private_key"] = private_key_pem(generate_private_key())
    results = run(config, emulated)
    auth = results["authentication"]
    assert auth.status == FAILED
    assert auth.error["code"] == "auth_invalid"
    assert auth.error["vendor_code"] == "390144"
    assert auth.error["http_status"] == 401
    assert auth.error["retryable"] is False
    assert "JWT token is invalid" in auth.message
    assert "RSA_PUBLIC_KEY" in auth.error["remediation"]
    assert results["target"].status == SKIPPED
    assert results["write_permission"].status == SKIPPED
    assert_no_secret(results, config, snowflake)


def test_key_of_another_user_is_auth_invalid(snowflake, emulated, config):
    config["user"] = "someone_else"
    results = run(config, emulated)
    assert results["authentication"].error["vendor_code"] == "390144"


def test_expired_jwt_is_token_expired(snowflake, emulated, config, key):
    connector = SnowflakeConnector(config, policy=emulated)
    now = int(time.time())
    qualified = "TESTORG-TESTACCT.LOADER"
    connector._token = jwt.encode(
        {"iss": f"{qualified}.{fingerprint(key.public_key())}", "sub": qualified, "iat": now - 7200, "exp": now - 3600},
        key,
        algorithm="RS256",
    )
    connector._token_expires = now + 3600  # the connector believes it is still valid
    result = connector.run_step(connector.steps[1])
    assert result.error["code"] == "token_expired"
    assert result.error["vendor_code"] == "390198"
    assert "clock" in result.error["remediation"]


def test_role_not_granted_is_insufficient_permissions(snowflake, emulated, config):
    config["role"] = "SYSADMIN"
    auth = run(config, emulated)["authentication"]
    assert auth.error["code"] == "insufficient_permissions"
    assert auth.error["vendor_code"] == "390189"
    assert "role" in auth.error["remediation"]


def test_missing_table_is_not_found(snowflake, emulated, config):
    config["table"] = "no_such_table"
    results = run(config, emulated)
    target = results["target"]
    assert target.error["code"] == "not_found"
    assert target.error["vendor_code"] == "002003"
    assert target.error["http_status"] == 422
    assert "does not exist or not authorized" in target.message
    assert "upper-cased" in target.error["remediation"]
    assert results["write_permission"].status == SKIPPED


def test_quoted_identifiers_are_sent_quoted(snowflake, emulated, config):
    snowflake.tables[("ANALYTICS", "PUBLIC", "Mixed Case")] = [column("ID", "NUMBER(38,0)", null="N")]
    config["table"] = "Mixed Case"
    results = run(config, emulated)
    assert results["target"].status == PASSED
    assert results["target"].details["table"] == 'ANALYTICS.PUBLIC."Mixed Case"'
    assert json.loads(snowflake.calls_to("submit")[1].body)["statement"].endswith('."Mixed Case"')


def test_quoted_context_names_are_sent_as_stored_without_quotes(snowflake, emulated, config, key):
    snowflake.register_key("loader", key.public_key(), roles=("Loader Role",), default_role="PUBLIC")
    snowflake.tables[("Sales DB", "raw", "CUSTOMERS")] = snowflake.tables[("ANALYTICS", "PUBLIC", "CUSTOMERS")]
    snowflake.warehouses.add("Etl_wh")
    config.update(role='"Loader Role"', database='"Sales DB"', schema='"raw"', warehouse='"Etl_wh"')
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 4, {n: r.message for n, r in results.items()}
    body = json.loads(snowflake.calls_to("submit")[-2].body)
    assert (body["role"], body["database"], body["schema"], body["warehouse"]) == (
        "Loader Role",
        "Sales DB",
        "raw",
        "Etl_wh",
    )
    assert body["statement"].startswith('INSERT INTO "Sales DB"."raw".customers')


def test_a_database_that_exists_only_in_another_case_is_not_found(snowflake, emulated, config):
    snowflake.tables = {("analytics", "PUBLIC", "CUSTOMERS"): snowflake.tables[("ANALYTICS", "PUBLIC", "CUSTOMERS")]}
    auth = run(config, emulated)["authentication"]  # the user typed analytics: Snowflake looks for ANALYTICS
    assert auth.error["code"] == "not_found"
    assert auth.error["vendor_code"] == "390201"
    assert "upper-cased" in auth.error["remediation"]


def test_describe_reads_every_result_partition(snowflake, emulated, config):
    wide = [column(f"C{i:03}", "VARCHAR(10)", null="N" if i == 0 else "Y") for i in range(250)]
    snowflake.tables[("ANALYTICS", "PUBLIC", "CUSTOMERS")] = wide
    snowflake.partition_rows = 100
    results = run(config, emulated)
    assert results["target"].details["columns"] == 250
    fields = SnowflakeConnector(config, policy=emulated).fields()
    assert [f.name for f in fields.fields] == [f"C{i:03}" for i in range(250)]
    pages = [c.query.get("partition") for c in snowflake.calls_to("status")]
    assert pages == ["1", "2", "1", "2"]


def test_the_write_check_alone_reads_the_columns_first(snowflake, emulated, config):
    connector = SnowflakeConnector(config, policy=emulated)
    assert connector.run_step(connector.steps[3]).status == PASSED
    statements = [json.loads(c.body)["statement"] for c in snowflake.calls_to("submit")]
    assert statements[0].startswith("DESCRIBE TABLE") and '"EMAIL_DOMAIN"' not in statements[1]


def test_insert_privilege_missing_is_insufficient_permissions(snowflake, emulated, config):
    snowflake.insert_denied.add(("ANALYTICS", "PUBLIC", "CUSTOMERS"))
    write = run(config, emulated)["write_permission"]
    assert write.error["code"] == "insufficient_permissions"
    assert write.error["vendor_code"] == "003001"
    assert "Insufficient privileges" in write.message
    assert "GRANT INSERT ON TABLE ANALYTICS.PUBLIC.CUSTOMERS TO ROLE LOADER_ROLE" in write.error["remediation"]


def test_a_role_that_may_insert_but_not_update_fails_naming_update(snowflake, emulated, config):
    snowflake.update_denied.add(("ANALYTICS", "PUBLIC", "CUSTOMERS"))
    write = run(config, emulated)["write_permission"]
    assert write.status == FAILED
    assert write.error["code"] == "insufficient_permissions"
    assert write.error["vendor_code"] == "003001"
    assert "GRANT UPDATE ON TABLE ANALYTICS.PUBLIC.CUSTOMERS TO ROLE LOADER_ROLE" in write.error["remediation"]


def test_a_warehouse_that_does_not_exist_or_is_not_granted_is_named(snowflake, emulated, config):
    config["warehouse"] = "missing_wh"
    write = run(config, emulated)["write_permission"]
    assert write.error["code"] == "not_found"
    assert write.error["vendor_code"] == "390201"
    assert write.message.startswith("Warehouse MISSING_WH does not exist or the role cannot use it.")
    assert "`warehouse` (MISSING_WH" in write.error["remediation"]
    assert "GRANT USAGE ON WAREHOUSE MISSING_WH TO ROLE LOADER_ROLE" in write.error["remediation"]


def test_async_statement_is_polled_until_done(snowflake, emulated, config):
    snowflake.pending_polls = 2
    results = run(config, emulated)
    assert [r.status for r in results.values()] == [PASSED] * 4
    assert len(snowflake.calls_to("status")) == 4 * 3  # two 202 polls, then the result
    assert all(c.headers["Authorization"].startswith("Bearer ") for c in snowflake.calls_to("status"))


def test_statement_still_running_at_the_deadline_times_out_and_is_cancelled(snowflake, emulated, config):
    snowflake.pending_polls = 10_000
    connector = SnowflakeConnector(config, policy=emulated)
    result = connector.run_step(connector.steps[3], deadline=time.monotonic() + 0.5)
    assert result.status == FAILED
    assert result.error["code"] == "timeout"
    assert result.error["retryable"] is True
    assert "warehouse" in result.error["remediation"]
    assert len(snowflake.cancelled) == 1


def test_rate_limit_reports_retry_after(snowflake, emulated, config):
    snowflake.rate_limit("submit", retry_after=30)
    auth = run(config, emulated)["authentication"]
    assert auth.error["code"] == "rate_limited"
    assert auth.error["retry_after"] == 30
    assert auth.error["retryable"] is True
    assert "retry after 30s" in auth.message


def test_server_error_is_retryable_vendor_error(snowflake, emulated, config):
    snowflake.server_error("submit")
    results = run(config, emulated)
    assert results["authentication"].error["code"] == "vendor_error"
    assert results["authentication"].error["retryable"] is True
    assert results["target"].status == SKIPPED
    assert_no_secret(results, config, snowflake)


def test_slow_answer_times_out(snowflake, emulated, config):
    snowflake.slow("submit", 1.0)
    connector = SnowflakeConnector(config, policy=emulated)
    result = connector.run_step(connector.steps[1], deadline=time.monotonic() + 0.3)
    assert result.error["code"] == "timeout"


def test_connection_refused_skips_everything(config):
    with SnowflakeEmulator() as server:
        url = server.url
    policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={"snowflake": url})
    results = run(config, policy)
    assert results["connectivity"].error["code"] == "connection_refused"
    assert {r.status for name, r in results.items() if name != "connectivity"} == {SKIPPED}


def test_config_validation_names_fields(key):
    errors = SnowflakeConnector.validate_config({"account": "https://x.snowflakecomputing.com", "user": "u"})
    assert "config.account" in errors
    for field in ("private_key", "warehouse", "database", "schema", "table"):
        assert errors[f"config.{field}"] == ["This field is required."]
    base = {"account": "myorg-acct", "user": "u", "warehouse": "w", "database": "d", "schema": "s", "table": "t"}
    bad = SnowflakeConnector.validate_config({**base, "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"})
    assert list(bad) == ["config.private_key"]
    assert "nope" not in str(bad)
    encrypted = private_key_pem(key, "right")
    assert list(SnowflakeConnector.validate_config({**base, "private_key": encrypted})) == [
        "config.private_key_passphrase"
    ]
    wrong = SnowflakeConnector.validate_config({**base, "private_key": encrypted, "private_key_passphrase": "wrong"})
    assert wrong == {"config.private_key_passphrase": ["The passphrase does not decrypt the private key."]}
    assert SnowflakeConnector.validate_config({**base, "private_key": private_key_pem(key)}) == {}


def test_unparsable_key_fails_authentication_without_sending(snowflake, emulated, config):
    config["private_key"] = "not a key"
    auth = run(config, emulated)["authentication"]
    assert auth.error["code"] == "invalid_config"
    assert "`private_key`" in auth.message
    assert snowflake.calls_to("submit") == []


def test_fields_come_from_describe_table(snowflake, emulated, config):
    fields = SnowflakeConnector(config, policy=emulated).fields()
    assert fields.source == "live"
    assert fields.object == "ANALYTICS.PUBLIC.CUSTOMERS"
    by_name = {f.name: f for f in fields.fields}
    # Every scalar writable column may be the sync key; PK, unique and NOT NULL ones are recommended.
    assert [n for n, f in by_name.items() if f.identifier] == ["ID", "EMAIL", "FIRST_NAME", "CREATED_AT"]
    assert [n for n, f in by_name.items() if f.recommended_key] == ["ID", "EMAIL", "CREATED_AT"]
    assert fields.options["recommended_keys"] == ["ID", "EMAIL", "CREATED_AT"]
    assert fields.options["key_source"] == "primary_key"
    assert by_name["ID"].required and by_name["ID"].nullable is False
    assert by_name["CREATED_AT"].required is False  # NOT NULL with a default
    assert by_name["FIRST_NAME"].nullable is True and by_name["FIRST_NAME"].type == "VARCHAR(256)"
    assert by_name["EMAIL_DOMAIN"].createable is False  # virtual column
    assert by_name["EMAIL"].description == "Primary e-mail"
    assert not any(f.must_hash for f in fields.fields)


def test_fields_are_typed_from_snowflakes_column_types(snowflake, emulated, config):
    fields = SnowflakeConnector(config, policy=emulated).fields()
    by_name = {f.name: f for f in fields.fields}
    assert by_name["ID"].data_type == "integer"  # NUMBER(38,0)
    assert by_name["FIRST_NAME"].data_type == "string" and by_name["FIRST_NAME"].max_length == 256
    assert by_name["ATTRIBUTES"].data_type == "json"  # VARIANT
    assert by_name["CREATED_AT"].data_type == "datetime"  # TIMESTAMP_NTZ(9)
    assert by_name["ID"].unique is True and by_name["EMAIL"].unique is True  # primary key, unique key
    assert by_name["FIRST_NAME"].unique is False
    assert fields.sync_modes == ("insert", "update", "upsert")


def test_a_table_without_constraints_still_offers_every_scalar_column(snowflake, emulated, config):
    snowflake.tables[("ANALYTICS", "PUBLIC", "CUSTOMERS")] = [
        column("ID", "NUMBER(38,0)"),
        column("PAYLOAD", "VARIANT"),
        column("NOTE", "VARCHAR(10)"),
    ]
    fields = SnowflakeConnector(config, policy=emulated).fields()
    assert [f.name for f in fields.fields if f.identifier] == ["ID", "NOTE"]
    assert not any(f.recommended_key for f in fields.fields)
    assert fields.options["key_source"] == "any_scalar_column"


def test_fields_vendor_failure_raises(snowflake, emulated, config):
    config["table"] = "gone"
    with pytest.raises(ConnectorError) as raised:
        SnowflakeConnector(config, policy=emulated).fields()
    assert raised.value.code == "not_found"
