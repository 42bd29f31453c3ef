"""POST …/destinations/{id}/mappings/validate for every type, against its emulator: a correct mapping is valid,
and each class of problem is answered where it is."""

import importlib

import pytest

from connectors.runtime.base import SYNC_MODES
from connectors.runtime.registry import connector_types

pytestmark = pytest.mark.django_db(transaction=True)

# A warehouse spelling of each normalized type: the source column that fits a field of that type.
SOURCE_TYPE = {
    "string": "VARCHAR(40)",
    "enum": "VARCHAR(40)",
    "integer": "NUMBER(38,0)",
    "number": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP_NTZ(9)",
    "json": "VARIANT",
    "array": "ARRAY",
}
# The order a correct mapping prefers modes in: the ones that exercise the most rules first.
PREFERRED_MODES = ("upsert", "insert", "mirror", "update")


@pytest.fixture(params=sorted(connector_types()))
def destination(request, settings, api):
    module = importlib.import_module(f"tests.emulators.{request.param}")
    emulator = module.EMULATOR()
    emulator.start()
    settings.CONNECTOR_BASE_URLS = {request.param: emulator.url}
    try:
        created = api.post(
            api.path("destinations"),
            {"name": request.param, "destination_type": request.param, "config": module.valid_config(emulator)},
            format="json",
        )
        assert created.status_code == 201, created.json()
        fields = api.get(api.path(f"destinations/{created.json()['id']}/fields"))
        assert fields.status_code == 200, fields.json()
        yield created.json()["id"], fields.json(), emulator
    finally:
        emulator.stop()


def validate(api, destination_id, body, **params):
    suffix = "?refresh=true" if params.get("refresh") else ""
    return api.post(api.path(f"destinations/{destination_id}/mappings/validate{suffix}"), body, format="json")


def column(name, data_type):
    return {"name": name, "type": SOURCE_TYPE[data_type]}


def writable(field, mode):
    return field["createable"] if mode in ("insert", "mirror") else field["updateable"] or mode == "upsert"


def correct_mapping(described):
    """A mapping the description says works: each required field and the identifier, from fitting columns."""
    mode = next(m for m in PREFERRED_MODES if m in described["sync_modes"])
    fields = described["fields"]
    chosen = [f for f in fields if f["required"] and writable(f, mode)]
    identifier = None
    if mode != "insert":
        keys = [f for f in fields if f["identifier"] and f.get("unique") is not False and f["createable"]]
        keys = keys or [f for f in fields if f["identifier"]]
        identifier = keys[0]
        chosen = [identifier, *(f for f in chosen if f["name"] != identifier["name"])]
    if not fields:  # free-form: any name, created on first write
        chosen = [{"name": "email", "data_type": "string"}]
    elif not chosen:  # nothing required (an audience member, say): its first identifier
        chosen = [next(f for f in fields if f["identifier"] and writable(f, mode))]
    if mode == "upsert":
        chosen = [f for f in chosen if f.get("updateable", True) or f is identifier]
    columns = [column(f"SRC_{i}", f["data_type"]) for i, f in enumerate(chosen)]
    body = {
        "source_columns": columns,
        "mapping": [{"source": c["name"], "destination": f["name"]} for c, f in zip(columns, chosen, strict=True)],
        "sync_mode": mode,
    }
    if identifier is not None:
        body["identifier"] = {"source": "SRC_0", "destination": identifier["name"]}
    return body


def codes(answer):
    return {p["code"] for p in answer["problems"]} | {p["code"] for e in answer["entries"] for p in e["problems"]}


def test_a_correct_mapping_is_valid_and_each_problem_is_named(api, destination):
    destination_id, described, _emulator = destination
    assert set(described["sync_modes"]) <= set(SYNC_MODES) and described["sync_modes"]
    body = correct_mapping(described)
    answer = validate(api, destination_id, body)
    assert answer.status_code == 200, answer.json()
    result = answer.json()
    assert result["valid"] is True, result
    assert result["fields_from"] == "cache" and result["destination_id"] == destination_id

    # Unknown field: an error, unless the vendor creates new names on first write.
    unknown = {**body, "mapping": [*body["mapping"], {"source": "SRC_0", "destination": "zz_no_such_field"}]}
    result = validate(api, destination_id, unknown).json()
    if described.get("new_fields") == "*":
        assert result["entries"][-1]["problems"][0]["code"] == "new_field" and result["valid"] is True
    else:
        assert result["entries"][-1]["problems"][0]["code"] == "unknown_field" and result["valid"] is False

    # Two columns to one field.
    first = body["mapping"][0]
    twice = {
        **body,
        "source_columns": [*body["source_columns"], {**body["source_columns"][0], "name": "OTHER"}],
        "mapping": [*body["mapping"], {"source": "OTHER", "destination": first["destination"]}],
    }
    result = validate(api, destination_id, twice).json()
    assert result["valid"] is False
    assert result["entries"][-1]["problems"][0]["code"] == "duplicate_destination"
    assert result["entries"][-1]["problems"][0]["path"] == f"mapping.{len(body['mapping'])}.destination"

    # A mode the type does not support.
    unsupported = next(m for m in SYNC_MODES if m not in described["sync_modes"])
    result = validate(api, destination_id, {**body, "sync_mode": unsupported}).json()
    assert "mode_not_supported" in codes(result) and result["valid"] is False

    # A type mismatch names the casts that fit (a JSON column into a non-JSON field).
    target = next((f for f in described["fields"] if f["data_type"] not in ("json", "array")), None)
    if target is not None:
        mismatch = {
            **body,
            "source_columns": [*body["source_columns"], {"name": "BLOB", "type": "VARIANT"}],
            "mapping": [m for m in body["mapping"] if m["destination"] != target["name"]]
            + [{"source": "BLOB", "destination": target["name"]}],
        }
        result = validate(api, destination_id, mismatch).json()
        [problem] = [p for p in result["entries"][-1]["problems"] if p["code"] == "type_mismatch"]
        assert result["valid"] is False and "VARIANT" in problem["message"]

    # An identifier that is not one.
    plain = next((f for f in described["fields"] if not f["identifier"]), None)
    if plain is not None:
        result = validate(
            api, destination_id, {**body, "identifier": {"source": "SRC_0", "destination": plain["name"]}}
        )
        problems = {p["code"]: p for p in result.json()["problems"]}
        assert problems["not_an_identifier"]["path"] == "identifier.destination"

    # A required field left out, in a mode that creates records.
    required = [f for f in described["fields"] if f["required"] and f["createable"]]
    if required and body["sync_mode"] in ("insert", "upsert", "mirror"):
        missing = {**body, "mapping": [m for m in body["mapping"] if m["destination"] != required[-1]["name"]]}
        if body.get("identifier", {}).get("destination") != required[-1]["name"]:
            result = validate(api, destination_id, missing).json()
            assert "required_field_not_mapped" in codes(result)


def test_a_field_the_mode_cannot_write_is_refused(api, settings):
    from tests.emulators import salesforce

    emulator = salesforce.EMULATOR()
    emulator.start()
    settings.CONNECTOR_BASE_URLS = {"salesforce": emulator.url}
    try:
        created = api.post(
            api.path("destinations"),
            {"name": "sf", "destination_type": "salesforce", "config": salesforce.valid_config(emulator)},
            format="json",
        ).json()
        body = {
            "source_columns": [{"name": "ID", "type": "VARCHAR(18)"}, {"name": "LAST", "type": "VARCHAR(80)"}],
            "mapping": [{"source": "ID", "destination": "Id"}, {"source": "LAST", "destination": "LastName"}],
            "sync_mode": "insert",
        }
        result = validate(api, created["id"], body).json()
        assert result["fields_from"] == "live"  # nothing cached yet: read now
        assert result["entries"][0]["problems"][0]["code"] == "not_writable"
        described = emulator.calls_to("describe")
        validate(api, created["id"], body)
        assert emulator.calls_to("describe") == described  # the second check works from the cache
        assert validate(api, created["id"], body, refresh=True).json()["fields_from"] == "live"
        assert len(emulator.calls_to("describe")) > len(described)
    finally:
        emulator.stop()


def test_audience_samples_are_previewed_and_never_sent(api, settings):
    from tests.emulators import google_ads

    emulator = google_ads.EMULATOR()
    emulator.start()
    settings.CONNECTOR_BASE_URLS = {"google_ads": emulator.url}
    try:
        created = api.post(
            api.path("destinations"),
            {"name": "g", "destination_type": "google_ads", "config": google_ads.valid_config(emulator)},
            format="json",
        ).json()
        sample = "Cloudy.SanFrancisco+shopping@gmail.com"
        body = {
            "source_columns": [{"name": "EMAIL", "type": "VARCHAR(320)"}],
            "mapping": [{"source": "EMAIL", "destination": "email", "samples": [sample, "not-an-email"]}],
            "sync_mode": "insert",
        }
        result = validate(api, created["id"], body).json()
        preview = result["entries"][0]["preview"]
        assert preview["values"][0]["normalized"] == "cloudysanfrancisco@gmail.com"
        assert len(preview["values"][0]["sent"]) == 64 and "problem" in preview["values"][1]
        assert all(sample not in str(call.body) for call in emulator.calls)
    finally:
        emulator.stop()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {"source_columns": [{"name": "A", "type": "INT"}], "mapping": [{"source": "A"}], "sync_mode": "insert"},
            "mapping.0.destination",
        ),
        (
            {
                "source_columns": [{"name": "A"}],
                "mapping": [{"source": "A", "destination": "b"}],
                "sync_mode": "insert",
            },
            "source_columns.0.type",
        ),
        (
            {
                "source_columns": [{"name": "A", "type": "INT"}],
                "mapping": [{"source": "A", "destination": "b"}],
                "sync_mode": "merge",
            },
            "sync_mode",
        ),
        (
            {
                "source_columns": [{"name": "A", "type": "INT"}],
                "mapping": [{"source": "A", "destination": "b"}],
                "sync_mode": "insert",
                "identifer": {},
            },
            "identifer",
        ),
        (
            {
                "source_columns": [{"name": "A", "type": "INT"}],
                "mapping": [{"source": "A", "destination": "b", "samples": ["x"] * 11}],
                "sync_mode": "insert",
            },
            "mapping.0.samples",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_path(api, body, path):
    created = api.post(
        api.path("destinations"),
        {"name": "w", "destination_type": "webhook", "config": {"url": "https://hooks.example.com/in"}},
        format="json",
    ).json()
    answer = validate(api, created["id"], body)
    assert answer.status_code == 400
    assert path in answer.json()["errors"], answer.json()
