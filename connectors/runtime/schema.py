"""Small builders for connector config JSON Schemas, so each connector states only what is its own."""

from __future__ import annotations

from typing import Any


def config_schema(title: str, description: str, properties: dict, required: list[str], **extra) -> dict:
    """An object schema that rejects unknown keys; `description` names the auth method and alternatives."""
    return {
        "type": "object",
        "title": title,
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        **extra,
    }


def string(description: str, **extra: Any) -> dict:
    return {"type": "string", "minLength": 1, "description": description, **extra}


def secret(description: str, **extra: Any) -> dict:
    """A secret: encrypted at rest, masked as ******** in every answer."""
    return {"type": "string", "minLength": 1, "writeOnly": True, "description": description, **extra}


def https_url(description: str, **extra: Any) -> dict:
    return {
        "type": "string",
        "format": "uri",
        "pattern": "^https?://[^\\s/?#]+",
        "x-pattern-message": "Must be an http(s) URL with a host.",
        "description": description,
        **extra,
    }


def enum(description: str, values: list, default: Any = None) -> dict:
    spec = {"type": "string", "enum": values, "description": description}
    if default is not None:
        spec["default"] = default
    return spec


def credential_host(spec: dict) -> dict:
    """Marks a field that decides where the credentials are sent (a URL, host or account).

    Changing it never keeps stored secrets: the caller types them again (`merge_config`).
    """
    return {**spec, "x-credential-host": True}
