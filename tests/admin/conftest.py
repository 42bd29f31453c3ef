"""Fixtures for the admin tests: a logged-in superuser client, a webhook receiver, and form helpers."""

from __future__ import annotations

import html
import json
import re

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


def destination_form(destination, config=None, **overrides) -> dict:
    """The change form's POST data as the page sends it: the editor's JSON, secrets blank unless typed."""
    from destinations.admin.config_editor import editor_value
    from destinations.admin.display import connector_or_none

    if config is None:
        config = editor_value(connector_or_none(destination.destination_type), destination.own_config())
    data = {
        "name": destination.name,
        "connection": str(destination.connection_id or ""),
        "config": config if isinstance(config, str) else json.dumps(config),
    }
    data.update(overrides)
    return data


def editor(response, field: str = "config") -> dict:
    """The config editor's settings on a page: {"data": ..., "schema": ..., "errorMap": ...}."""
    page = response.content.decode()
    match = re.search(rf'name="{field}"[^>]*data-django-jsonform="([^"]*)"', page)
    assert match, f"no config editor for {field!r} on the page"
    settings = json.loads(html.unescape(match.group(1)))
    settings["data"] = json.loads(settings["data"])
    return settings


def change_url(destination) -> str:
    return f"/admin/destinations/destination/{destination.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
