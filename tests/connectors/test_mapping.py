"""The mapping check, run on fields as real connectors describe them from their emulators."""

import hashlib

import pytest

from connectors.facebook_ads import FacebookAdsConnector
from connectors.hubspot import HubSpotConnector
from connectors.runtime.http import OutboundPolicy, parse_networks
from connectors.runtime.mapping import validate_mapping
from connectors.salesforce import SalesforceConnector
from tests.conftest import LOOPBACK
from tests.emulators import facebook_ads, hubspot, salesforce


def described(module, connector_cls, **overrides):
    with module.EMULATOR() as emulator:
        policy = OutboundPolicy(allowed_networks=parse_networks(LOOPBACK), base_urls={connector_cls.type: emulator.url})
        config = {**module.valid_config(emulator), **overrides}
        return connector_cls(config, policy=policy).fields().as_dict()


@pytest.fixture(scope="module")
def contacts():
    return described(hubspot, HubSpotConnector)


@pytest.fixture(scope="module")
def sobject():
    return described(salesforce, SalesforceConnector)


def codes(answer):
    return {p["code"] for p in answer["problems"]} | {p["code"] for e in answer["entries"] for p in e["problems"]}


COLUMNS = [
    {"name": "EMAIL", "type": "VARCHAR(320)"},
    {"name": "CUSTOMER_ID", "type": "VARCHAR(64)"},
    {"name": "SIGNED_UP_AT", "type": "TIMESTAMP_NTZ(9)"},
    {"name": "SIGNED_UP_ON", "type": "DATE"},
    {"name": "STAGE", "type": "VARCHAR(20)"},
    {"name": "LAST_NAME", "type": "VARCHAR(200)"},
]


def test_a_correct_hubspot_upsert_is_valid(contacts):
    answer = validate_mapping(
        contacts,
        {
            "source_columns": COLUMNS,
            "mapping": [
                {"source": "EMAIL", "destination": "email"},
                {"source": "SIGNED_UP_ON", "destination": "customer_since"},
            ],
            "identifier": {"source": "EMAIL", "destination": "email"},
            "sync_mode": "upsert",
        },
    )
    assert answer["valid"] is True, answer
    assert codes(answer) == set()
    assert answer["entries"][1]["source_type"] == "date" and answer["entries"][1]["destination_type"] == "date"


def test_a_timestamp_to_a_hubspot_date_is_a_mismatch_naming_the_cast(contacts):
    answer = validate_mapping(
        contacts,
        {
            "source_columns": COLUMNS,
            "mapping": [{"source": "SIGNED_UP_AT", "destination": "customer_since"}],
            "sync_mode": "insert",
        },
    )
    assert answer["valid"] is False
    [problem] = answer["entries"][0]["problems"]
    assert problem["code"] == "type_mismatch" and problem["path"] == "mapping.0"
    assert problem["coercions"][0].startswith("CAST(SIGNED_UP_AT AS DATE)")


def test_each_class_of_problem_is_named_where_it_is(contacts):
    answer = validate_mapping(
        contacts,
        {
            "source_columns": COLUMNS,
            "mapping": [
                {"source": "EMAIL", "destination": "emial"},
                {"source": "CUSTOMER_ID", "destination": "firstname"},
                {"source": "LAST_NAME", "destination": "firstname"},
                {"source": "STAGE", "destination": "lifecyclestage"},
            ],
            "identifier": {"source": "LAST_NAME", "destination": "lastname"},
            "sync_mode": "mirror",
        },
    )
    assert answer["valid"] is False
    by_entry = [{p["code"]: p for p in e["problems"]} for e in answer["entries"]]
    assert "Did you mean 'email'?" in by_entry[0]["unknown_field"]["message"]
    assert by_entry[2]["duplicate_destination"]["path"] == "mapping.2.destination"
    assert "mapping.1" in by_entry[2]["duplicate_destination"]["message"]
    assert "subscriber, lead, customer" in by_entry[3]["enum_values"]["message"]
    overall = {p["code"]: p for p in answer["problems"]}
    assert overall["mode_not_supported"]["remediation"] == "Choose one of: insert, update, upsert."
    assert overall["not_an_identifier"]["path"] == "identifier.destination"
    assert "email" in overall["not_an_identifier"]["remediation"]


def test_required_fields_and_writability_follow_the_mode(sobject):
    insert = validate_mapping(
        sobject,
        {
            "source_columns": COLUMNS,
            "mapping": [{"source": "CUSTOMER_ID", "destination": "Id"}, {"source": "EMAIL", "destination": "Email"}],
            "sync_mode": "insert",
        },
    )
    overall = {p["code"]: p for p in insert["problems"]}
    assert "'LastName' is required" in overall["required_field_not_mapped"]["message"]
    not_writable = insert["entries"][0]["problems"][0]  # Id is never createable
    assert not_writable["code"] == "not_writable"
    assert not_writable["message"] == "'Id' cannot be written when a record is created (insert mode)."
    update = validate_mapping(
        sobject,
        {
            "source_columns": COLUMNS,
            "mapping": [{"source": "EMAIL", "destination": "Email"}],
            "identifier": {"source": "CUSTOMER_ID", "destination": "Id"},
            "sync_mode": "update",
        },
    )
    assert update["valid"] is True, update  # updates need no required field, and match on Id


def test_a_non_unique_external_id_is_a_warning_naming_a_unique_one(sobject):
    answer = validate_mapping(
        sobject,
        {
            "source_columns": COLUMNS,
            "mapping": [
                {"source": "CUSTOMER_ID", "destination": "Legacy_Key__c"},
                {"source": "LAST_NAME", "destination": "LastName"},
            ],
            "identifier": {"source": "CUSTOMER_ID", "destination": "Legacy_Key__c"},
            "sync_mode": "upsert",
        },
    )
    assert answer["valid"] is True
    [problem] = [p for p in answer["problems"] if p["code"] == "identifier_not_unique"]
    assert problem["severity"] == "warning" and "Warehouse_Id__c" in problem["remediation"]
    assert "LEFT(LAST_NAME, 80)" in answer["entries"][1]["problems"][0]["remediation"]


def test_an_update_without_an_identifier_pair_is_refused(contacts):
    answer = validate_mapping(
        contacts,
        {"source_columns": COLUMNS, "mapping": [{"source": "EMAIL", "destination": "email"}], "sync_mode": "update"},
    )
    assert [p["code"] for p in answer["problems"]] == ["identifier_missing"]


def test_audience_samples_are_previewed_as_the_vendor_wants_them():
    fields = described(facebook_ads, FacebookAdsConnector)
    answer = validate_mapping(
        fields,
        {
            "source_columns": [{"name": "PHONE", "type": "VARCHAR(30)"}],
            "mapping": [{"source": "PHONE", "destination": "PHONE", "samples": ["+1 (650) 555-1234", "555-1234"]}],
            "identifier": {"source": "PHONE", "destination": "PHONE"},
            "sync_mode": "mirror",
        },
    )
    assert answer["valid"] is True, answer
    preview = answer["entries"][0]["preview"]
    assert preview["hash"] == "sha256"
    assert preview["values"][0]["sent"] == hashlib.sha256(b"16505551234").hexdigest()
    assert "country code" in preview["values"][1]["problem"]
