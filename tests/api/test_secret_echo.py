"""Every destination type against a vendor that echoes the whole request in its error answers.

Each type is configured with recognisable secrets, created and tested through the API, and its fields
read. No form of any configured secret, nor of any credential the connector derived and sent (access
tokens, signed assertions, Basic pairs), may appear in the SSE stream, the test-run history, the
destination's status_error, the fields error, the log records or any database row.
"""

import base64
import importlib
import json
import logging
from urllib.parse import parse_qsl, quote, quote_plus

import pytest
from django.db import connection

from connectors.runtime.redaction import MAX_VENDOR_TEXT
from connectors.runtime.registry import connector_classes, connector_types
from tests.emulators.echo import MODES, EchoVendor
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

MARK = "+/=%&~"  # characters every encoding treats differently, appended to each secret the schema allows
SECRET_KEYS = ("token", "secret", "password", "assertion", "api_key", "apikey", "key", "code")


def marked_config(destination_type: str, echo: EchoVendor) -> dict:
    """The type's passing config, with every URL pointing at the echo vendor and secrets made recognisable."""
    module = importlib.import_module(f"tests.emulators.{destination_type}")
    emulator = module.EMULATOR().start()
    try:
        config = json.loads(json.dumps(module.valid_config(emulator)).replace(emulator.url, echo.url))
    finally:
        emulator.stop()
    connector_cls = connector_classes()[destination_type]
    for name in connector_cls.secret_fields():
        value = config.get(name)
        if isinstance(value, dict):
            candidate = {**config, name: {k: f"{v}{MARK}" for k, v in value.items()}}
        elif isinstance(value, str) and not value.lstrip().startswith(("{", "-----")):
            candidate = {**config, name: f"{value}{MARK}"}
        else:
            continue
        if not connector_cls.validate_config(candidate):
            config = candidate
    return config


def configured_secrets(connector_cls, config: dict) -> set[str]:
    found = set()
    for name in connector_cls.secret_fields():
        value = config.get(name)
        if isinstance(value, dict):
            found |= set(value.values())
        elif isinstance(value, str):
            found.add(value)
            if value.lstrip().startswith("{"):
                found |= {json.loads(value)[k] for k in ("private_key", "private_key_id") if k in json.loads(value)}
    return {value for value in found if isinstance(value, str) and len(value) >= 8}


def sent_credentials(echo: EchoVendor) -> set[str]:
    """What the connector sent as credentials, read on the vendor's side."""
    found = set()
    for call in echo.calls:
        for name, value in call.headers.items():
            if any(word in name.lower() for word in ("auth", "key", "token", "secret", "signature")):
                found.add(value)
                scheme, _, token = value.partition(" ")
                if token:
                    found.add(token)
                if scheme.lower() == "basic":
                    found |= set(base64.b64decode(token).decode().split(":", 1))
        pairs = parse_qsl(call.body.decode(errors="replace")) + list(call.query.items())
        found |= {v for k, v in pairs if any(word in k.lower() for word in SECRET_KEYS)}
        if call.body[:1] == b"{":
            body = json.loads(call.body)
            found |= {v for k, v in body.items() if isinstance(v, str) and any(w in k.lower() for w in SECRET_KEYS)}
    return {value for value in found if len(value) >= 8}


def forms(secret: str) -> set[str]:
    raw = secret.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        *encoded,
        *(e.rstrip("=") for e in encoded),
        base64.b64encode(b"anystring:" + raw).decode(),
    }


def database_dump() -> str:
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


@pytest.fixture(params=MODES)
def echo(request, settings):
    vendor = EchoVendor(mode=request.param, status=401 if request.param == "oauth" else 400).start()
    settings.CONNECTOR_BASE_URLS = dict.fromkeys(connector_types(), vendor.url)
    yield vendor
    vendor.stop()


@pytest.mark.parametrize("destination_type", connector_types())
def test_no_form_of_any_secret_leaves(api, echo, destination_type, caplog):
    caplog.set_level(logging.INFO)
    connector_cls = connector_classes()[destination_type]
    config = marked_config(destination_type, echo)
    created = api.post(
        api.path("destinations"),
        {"name": destination_type, "destination_type": destination_type, "config": config},
        format="json",
    )
    assert created.status_code == 201, created.json()
    destination_id = created.json()["id"]
    events = read_stream(api.post(api.path(f"destinations/{destination_id}/test")))
    steps = [e.data for e in events if e.type == "step"]
    assert any(s["status"] == "failed" for s in steps), steps
    assert all(len(s["message"]) <= MAX_VENDOR_TEXT for s in steps)  # a 3,862-character echo comes out capped
    assert echo.calls, "the connector never reached the echoing vendor"
    fields = api.get(api.path(f"destinations/{destination_id}/fields"), {"refresh": "true"})
    history = api.get(api.path(f"destinations/{destination_id}/test-runs"))
    detail = api.get(api.path(f"destinations/{destination_id}"))

    seen = "\n".join(
        [
            json.dumps([e.data for e in events]),
            fields.content.decode(),
            history.content.decode(),
            detail.content.decode(),
            "\n".join(record.getMessage() for record in caplog.records),
            database_dump(),
        ]
    )
    secrets = configured_secrets(connector_cls, config) | sent_credentials(echo)
    assert secrets
    leaked = sorted({form for secret in secrets for form in forms(secret) if form in seen})
    assert not leaked, f"{destination_type}: {leaked[:3]} in {seen[:2000]}"
