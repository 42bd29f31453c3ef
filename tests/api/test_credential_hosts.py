"""Stored secrets never follow a changed host: a URL, login host or account changed keeps no stored secret.

Each reproducer of the attack (issue: an editor sends the admin-entered secrets to a host of their choice)
runs against two local receivers: the one the admin configured and the "attacker's". The attacker's must
receive nothing, and the 400 must name each secret to re-enter.
"""

from urllib.parse import urlsplit

import pytest

from connectors.runtime.registry import connector_classes
from destinations.config import credential_host_fields
from destinations.models import Destination
from tests.emulators import salesforce
from tests.emulators.webhook import WebhookReceiver
from tests.factories import ConnectionFactory, DestinationFactory
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "admin-entered-key-0001"
REENTER = "Re-enter this secret"


@pytest.fixture
def receivers():
    with WebhookReceiver() as good, WebhookReceiver() as attacker:
        yield good, attacker


@pytest.fixture
def hook(api, receivers):
    good, _ = receivers
    return DestinationFactory(
        workspace=api.workspace,
        config={"url": f"{good.url}/hooks/in", "method": "POST"},
        secrets={"headers": {"X-API-Key": KEY}},
    )


def leaked(receiver) -> bool:
    return any(KEY in str(call.headers) or KEY.encode() in call.body for call in receiver.calls)


def test_a_test_override_to_another_url_does_not_send_stored_secrets(api, hook, receivers):
    _, attacker = receivers
    response = api.post(
        api.path(f"destinations/{hook.pk}/test"), {"config": {"url": f"{attacker.url}/hooks/x"}}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert (
        errors["config.headers.X-API-Key"][0].startswith(REENTER)
        and "config.url" in errors["config.headers.X-API-Key"][0]
    )
    assert not attacker.calls
    hook.refresh_from_db()
    assert hook.status == "pending"


def test_a_test_override_to_another_url_with_the_secrets_typed_again_runs(api, hook, receivers):
    _, attacker = receivers
    config = {"url": f"{attacker.url}/hooks/x", "headers": {"X-API-Key": "typed-by-the-caller"}}
    events = read_stream(api.post(api.path(f"destinations/{hook.pk}/test"), {"config": config}, format="json"))
    assert events[-1].data["success"] is True
    assert attacker.received[0]["headers"]["X-Api-Key"] == "typed-by-the-caller"
    assert not leaked(attacker)


def test_a_put_to_another_url_keeping_masked_headers_is_refused_and_changes_nothing(api, hook, receivers):
    _, attacker = receivers
    path = api.path(f"destinations/{hook.pk}")
    body = {"config": {"url": f"{attacker.url}/hooks/x", "headers": {"X-API-Key": "********"}}}
    response = api.put(path, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"config.headers.X-API-Key"}
    stored = Destination.objects.get(pk=hook.pk)
    assert stored.config["url"] == hook.config["url"] and stored.secrets == {"headers": {"X-API-Key": KEY}}

    # the same PUT with the header omitted is refused too, and a test afterwards reaches only the stored host
    assert api.put(path, {"config": {"url": f"{attacker.url}/hooks/x"}}, format="json").status_code == 400
    read_stream(api.post(api.path(f"destinations/{hook.pk}/test")))
    assert not attacker.calls


def test_a_put_to_another_url_with_new_secrets_or_without_any_is_accepted(api, hook, receivers):
    _, attacker = receivers
    path = api.path(f"destinations/{hook.pk}")
    body = {"config": {"url": f"{attacker.url}/hooks/x", "headers": {"X-API-Key": "a-new-key"}}}
    assert api.put(path, body, format="json").status_code == 200
    assert Destination.objects.get(pk=hook.pk).secrets == {"headers": {"X-API-Key": "a-new-key"}}
    # removing the secrets explicitly (null) is a choice too
    response = api.put(path, {"config": {"url": f"{attacker.url}/hooks/y", "headers": None}}, format="json")
    assert response.status_code == 200 and Destination.objects.get(pk=hook.pk).secrets == {}


def test_masked_secrets_are_kept_while_the_host_stays(api, hook):
    path = api.path(f"destinations/{hook.pk}")
    response = api.put(path, {"config": {"method": "PUT", "headers": {"X-API-Key": "********"}}}, format="json")
    assert response.status_code == 200
    assert Destination.objects.get(pk=hook.pk).secrets == {"headers": {"X-API-Key": KEY}}


@pytest.fixture
def sf_emulators():
    with salesforce.EMULATOR() as good, salesforce.EMULATOR() as attacker:
        yield good, attacker


@pytest.mark.parametrize("field", ["login_url", "instance_url"])
def test_salesforce_hosts_changed_by_put_or_override_keep_no_stored_secret(api, sf_emulators, field):
    good, attacker = sf_emulators
    config = salesforce.valid_config(good)
    destination = DestinationFactory(
        workspace=api.workspace,
        destination_type="salesforce",
        config={k: v for k, v in config.items() if k not in ("client_secret", "refresh_token")},
        secrets={"client_secret": config["client_secret"], "refresh_token": config["refresh_token"]},
    )
    override = {"config": {field: attacker.url}}
    response = api.post(api.path(f"destinations/{destination.pk}/test"), override, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"config.client_secret", "config.refresh_token"}
    response = api.put(api.path(f"destinations/{destination.pk}"), override, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"config.client_secret", "config.refresh_token"}
    assert not attacker.calls
    assert Destination.objects.get(pk=destination.pk).config[field] == config[field]


def test_another_members_connection_cannot_be_pointed_at_ones_own_login_host(api, sf_emulators):
    good, attacker = sf_emulators
    config = salesforce.valid_config(good)
    shared = ConnectionFactory(
        workspace=api.workspace,
        destination_type="salesforce",
        credentials={k: config[k] for k in ("login_url", "client_id", "client_secret", "refresh_token")},
    )
    body = {
        "destination_type": "salesforce",
        "connection_id": str(shared.pk),
        "config": {"instance_url": good.url, "api_version": "66.0", "object": "Contact", "login_url": attacker.url},
    }
    response = api.post(api.path("destinations/test"), body, format="json")
    assert response.status_code == 400
    assert "config.login_url" in response.json()["errors"]
    # nor by storing a destination that does it
    response = api.post(api.path("destinations"), {"name": "mine", **body}, format="json")
    assert response.status_code == 400 and "config.login_url" in response.json()["errors"]
    assert not attacker.calls


def test_a_connection_moved_to_another_host_asks_for_its_secrets_again(api, receivers):
    good, attacker = receivers
    shared = ConnectionFactory(
        workspace=api.workspace, credentials={"url": f"{good.url}/hooks/in", "headers": {"X-API-Key": KEY}}
    )
    path = api.path(f"connections/{shared.pk}")
    response = api.put(path, {"credentials": {"url": f"{attacker.url}/hooks/x"}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"credentials.headers.X-API-Key"}
    shared.refresh_from_db()
    assert shared.credentials == {"url": f"{good.url}/hooks/in", "headers": {"X-API-Key": KEY}}


def test_host_deciding_fields_are_declared_in_every_schema():
    """Every field that names a URL, host, endpoint or account is declared as deciding where secrets go."""
    for type_name, cls in connector_classes().items():
        for name, spec in cls.config_schema["properties"].items():
            names_a_host = spec.get("format") == "uri" or any(
                word in name for word in ("url", "host", "endpoint", "account")
            )
            # a secret is always typed with its value; an ad account id names no host
            if names_a_host and not spec.get("writeOnly") and name != "ad_account_id":
                assert name in credential_host_fields(cls), f"{type_name}.{name} is not marked x-credential-host"


def _host_fields():
    return [(t, name) for t, cls in sorted(connector_classes().items()) for name in credential_host_fields(cls)]


# Spellings on which URL parsers disagree about the host (tests/connectors/test_hosts.py has the whole family).
AMBIGUOUS_HOSTS = [
    "https://evil.example\\.good.example",
    "https://evil.example\\@good.example",
    "https://evil.example:443\\@good.example",
    "https://good.example@evil.example",
    "https://evil.example%2f.good.example",
    "https://evil.example%40good.example",
    "https://good.example.",
    "https://evil.example\u3002good.example",
]


@pytest.mark.parametrize(("type_name", "field"), _host_fields())
@pytest.mark.parametrize("value", AMBIGUOUS_HOSTS)
def test_every_credential_host_field_refuses_a_host_that_parsers_read_differently(type_name, field, value):
    cls = connector_classes()[type_name]
    assert f"config.{field}" in cls.validate_config({field: value}, partial=True)


def test_a_webhook_whose_url_reaches_another_host_than_it_shows_is_refused(api, receivers):
    good, attacker = receivers
    shown = urlsplit(good.url).netloc
    url = f"http://{urlsplit(attacker.url).netloc}\\@{shown}/hooks/in"
    body = {"name": "w", "destination_type": "webhook", "config": {"url": url, "headers": {"X-API-Key": KEY}}}
    response = api.post(api.path("destinations"), body, format="json")
    assert response.status_code == 400
    assert "backslash" in response.json()["errors"]["config.url"][0]
    assert not attacker.calls
