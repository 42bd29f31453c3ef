"""Fixtures for the admin tests: a logged-in superuser client, a webhook receiver, and form helpers."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.emulators.webhook import WebhookReceiver

API_KEY = "k-123"


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password="pw-ops-1")


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as server:
        yield server


def destination_form(destination, **overrides) -> dict:
    """The change form's POST data as the page would send it (secrets masked), plus `overrides`."""
    from connectors.registry import get_connector_class
    from destinations.config import mask_config

    config = mask_config(
        get_connector_class(destination.destination_type), {**destination.config, **destination.secrets}
    )
    data = {
        "name": destination.name,
        "destination_type": destination.destination_type,
        "connection": str(destination.connection_id or ""),
        "config_json": json.dumps(config),
        **INLINE_MANAGEMENT,
    }
    for key, value in overrides.items():
        data[key] = json.dumps(value) if key == "config_json" and not isinstance(value, str) else value
    return data


INLINE_MANAGEMENT = {
    "test_runs-TOTAL_FORMS": "0",
    "test_runs-INITIAL_FORMS": "0",
    "test_runs-MIN_NUM_FORMS": "0",
    "test_runs-MAX_NUM_FORMS": "0",
}


def change_url(destination) -> str:
    return f"/admin/destinations/destination/{destination.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
