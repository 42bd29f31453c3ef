"""The admin pages as a test reads and fills them: the change form's data, the config editor, messages."""

from __future__ import annotations

import html
import json
import re


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
