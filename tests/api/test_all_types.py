"""Every registered destination type, end to end through the API against its local emulator:
create, test over SSE (all steps pass, status becomes connected), describe fields."""

import importlib

import pytest

from connectors.runtime.base import MASK
from connectors.runtime.registry import connector_classes, connector_types
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

CONTRACT_TYPES = {
    "salesforce",
    "hubspot",
    "google_ads",
    "facebook_ads",
    "linkedin_ads",
    "the_trade_desk",
    "braze",
    "iterable",
    "klaviyo",
    "mailchimp",
    "snowflake",
    "bigquery",
    "databricks",
    "webhook",
    "s3",
    "gcs",
}
FIELD_KEYS = {"name", "label", "type", "required", "identifier", "createable", "updateable"}


def test_every_contract_type_is_registered():
    assert set(connector_types()) >= CONTRACT_TYPES


def secret_values(connector_cls, config):
    values = []
    for name in connector_cls.secret_fields():
        value = config.get(name)
        values.extend(value.values() if isinstance(value, dict) else [value] if value else [])
    return [v for v in values if isinstance(v, str) and len(v) >= 6]


@pytest.fixture(params=connector_types())  # every registered type, each with tests/emulators/<type>.py
def vendor(request, settings):
    module = importlib.import_module(f"tests.emulators.{request.param}")
    emulator = module.EMULATOR()
    emulator.start()
    settings.CONNECTOR_BASE_URLS = {request.param: emulator.url}
    try:
        yield request.param, module.valid_config(emulator)
    finally:
        emulator.stop()


def test_create_test_and_describe(api, vendor):
    destination_type, config = vendor
    connector_cls = connector_classes()[destination_type]
    secrets = secret_values(connector_cls, config)

    created = api.post(
        api.path("destinations"),
        {"name": destination_type, "destination_type": destination_type, "config": config},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    for name in connector_cls.secret_fields():
        if name in config and not isinstance(config[name], dict):
            assert body["config"][name] == MASK

    events = read_stream(api.post(api.path(f"destinations/{body['id']}/test")))
    steps = [e.data for e in events if e.type == "step"]
    assert [s["name"] for s in steps] == [s.name for s in connector_cls.steps]
    assert all(s["status"] == "passed" for s in steps), steps
    done = events[-1].data
    assert done["success"] is True and done["destination"]["status"] == "connected"

    fields = api.get(api.path(f"destinations/{body['id']}/fields"))
    assert fields.status_code == 200, fields.json()
    described = fields.json()
    assert described["destination_id"] == body["id"] and described["source"] in ("live", "static")
    assert all(set(field) >= FIELD_KEYS for field in described["fields"])
    refreshed = api.get(api.path(f"destinations/{body['id']}/fields"), {"refresh": "true"})
    assert refreshed.status_code == 200 and refreshed.json()["fetched_at"] >= described["fetched_at"]

    everything = created.content.decode() + str([e.data for e in events]) + fields.content.decode()
    for secret in secrets:
        assert secret not in everything
