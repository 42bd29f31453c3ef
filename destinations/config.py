"""The one config-and-secrets module: validation, merging, masking, and which stored secrets a change may keep.

The API, the admin, the connection tests and the commands all go through these functions, so a rule holds
everywhere at once:
- a secret sent back as ``********`` or left blank keeps its stored value; ``null`` removes a key;
- a change to a field that decides where credentials are sent (``"x-credential-host": true`` in the type's
  JSON Schema: a URL, a host, an account) keeps no stored secret: the caller types them again;
- a destination that takes secrets from a shared connection sends them only where the connection says.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from connectors.runtime.base import MASK, Connector
from connectors.runtime.http import OutboundPolicy
from connectors.runtime.registry import UnknownConnectorType, connector_types, get_connector_class

from .errors import InvalidInput

HOST_KEYWORD = "x-credential-host"


def connector_class_for(destination_type: str, *, field: str = "destination_type") -> type[Connector]:
    try:
        return get_connector_class(destination_type)
    except UnknownConnectorType:
        valid = connector_types()
        raise InvalidInput(
            {field: [f"Unknown destination type {destination_type!r}. Valid types: {', '.join(valid)}."]},
            extra={"valid_types": valid},
        ) from None


def credential_host_fields(connector_cls: type[Connector]) -> list[str]:
    """The config keys that decide where this type's credentials are sent, as its schema declares them."""
    properties = connector_cls.config_schema.get("properties", {})
    return [name for name, spec in properties.items() if spec.get(HOST_KEYWORD)]


def _keeps_stored(value: Any) -> bool:
    return value == MASK or value == ""


class MergedConfig(dict):
    """A merged config, plus the secrets the caller must re-enter (path -> messages); checked on validation."""

    reenter: dict[str, list[str]]

    def __init__(self, *args, reenter: dict[str, list[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.reenter = reenter or {}


def merge_config(
    connector_cls: type[Connector], stored: dict, incoming: dict, *, field: str = "config"
) -> MergedConfig:
    """Merge a sent config into the stored one key by key.

    `null` removes a key; a secret sent back as ******** (or blank, or a masked header value) keeps its stored
    value, unless a credential-host field changes: then no stored secret is kept, and validating the result
    (effective_config, validated_credentials) names each one in its 400, with every other invalid field.
    """
    merged = copy.deepcopy(stored)
    secret_names = set(connector_cls.secret_fields())
    for key, value in incoming.items():
        if value is None:
            merged.pop(key, None)
        elif key in secret_names and isinstance(value, dict):
            kept = stored.get(key) if isinstance(stored.get(key), dict) else {}
            merged[key] = {
                k: kept[k] if _keeps_stored(v) else v for k, v in value.items() if not _keeps_stored(v) or k in kept
            }
        elif key in secret_names and _keeps_stored(value):
            continue
        else:
            merged[key] = value
    moved = [name for name in credential_host_fields(connector_cls) if merged.get(name) != stored.get(name)]
    carried = _carried_secrets(connector_cls, stored, incoming, merged) if moved else []
    changed = ", ".join(f"{field}.{name}" for name in moved)
    message = f"Re-enter this secret: {changed} changed, and stored secrets are never sent to a new host."
    for path in carried:
        name, _, key = path.partition(".")
        if key:
            merged[name].pop(key)
        else:
            merged.pop(name)
    return MergedConfig(merged, reenter={f"{field}.{path}": [message] for path in carried})


def _with_reentry(config: dict, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Validation errors plus the secrets to re-enter, which replace any 'required' on the same path."""
    return {**errors, **getattr(config, "reenter", {})}


def _carried_secrets(connector_cls: type[Connector], stored: dict, incoming: dict, merged: dict) -> list[str]:
    """Paths of the secrets in `merged` that come from `stored` rather than from what the caller typed."""
    carried = []
    for name in connector_cls.secret_fields():
        value, sent = merged.get(name), incoming.get(name)
        if isinstance(value, dict):
            sent = sent if isinstance(sent, dict) else {}
            carried.extend(f"{name}.{k}" for k in value if k not in sent or _keeps_stored(sent[k]))
        elif value not in (None, "") and name in stored and (name not in incoming or _keeps_stored(sent)):
            carried.append(name)
    return carried


def new_config(connector_cls: type[Connector], config: dict, *, field: str = "config") -> dict:
    """A config with nothing stored behind it: a ******** or blank secret counts as not sent.

    `null` removes a stored key on update; with nothing stored it can only be a mistake, so it is refused.
    """
    nulls = {
        f"{field}.{key}": ["Must not be null; leave the key out instead."] for key, v in config.items() if v is None
    }
    if nulls:
        raise InvalidInput(nulls)
    return merge_config(connector_cls, {}, config)


def effective_config(
    connector_cls: type[Connector], config: dict, credentials: Mapping[str, Any] | None, *, field: str = "config"
) -> dict:
    """The config a connector runs with, validated: a shared connection's credentials fill what `config` omits.

    When the connection supplies a secret, the fields that decide where it goes must be the connection's too.
    """
    credentials = dict(credentials or {})
    effective = {**credentials, **config}
    errors = _with_reentry(config, connector_cls.validate_config(effective))
    shared_secrets = [name for name in connector_cls.secret_fields() if name in credentials and name not in config]
    if shared_secrets:
        for name in credential_host_fields(connector_cls):
            if name in config and config[name] != credentials.get(name):
                errors[f"{field}.{name}"] = [
                    "Set by the shared connection: its credentials are sent only to the host it names. "
                    "Change it on the connection, or leave it out here."
                ]
    if errors:
        raise InvalidInput(errors)
    return effective


def validated_credentials(connector_cls: type[Connector], credentials: dict) -> dict:
    """Shared-connection credentials: each field valid, none required (destinations fill the rest)."""
    errors = connector_cls.validate_config(credentials, partial=True)
    errors = _with_reentry(credentials, {path.replace("config", "credentials", 1): m for path, m in errors.items()})
    if errors:
        raise InvalidInput(errors)
    return dict(credentials)


def mask_config(connector_cls: type[Connector], config: Mapping[str, Any]) -> dict:
    """The config as any answer shows it: every secret value (and each value of a secret object) ********."""
    masked = copy.deepcopy(dict(config))
    for name in connector_cls.secret_fields():
        value = masked.get(name)
        if isinstance(value, dict):
            masked[name] = dict.fromkeys(value, MASK)
        elif value not in (None, ""):
            masked[name] = MASK
    return masked


def split_secrets(connector_cls: type[Connector], config: Mapping[str, Any]) -> tuple[dict, dict]:
    """(public part, secret part) of a config, for storing the secret part encrypted."""
    secret_names = set(connector_cls.secret_fields())
    public = {k: v for k, v in config.items() if k not in secret_names}
    secrets = {k: v for k, v in config.items() if k in secret_names}
    return public, secrets


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy.from_settings(
        settings.OUTBOUND_ALLOWED_NETWORKS,
        settings.CONNECTOR_BASE_URLS,
        max_response_bytes=settings.CONNECTOR_MAX_RESPONSE_BYTES,
    )
