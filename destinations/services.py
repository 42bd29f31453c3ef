"""Writes for destinations and shared connections, and field discovery. Views, admin and commands call these."""

from __future__ import annotations

import copy
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from connectors.base import MASK, Connector
from connectors.errors import ConnectorError
from connectors.http import OutboundPolicy
from connectors.registry import UnknownConnectorType, connector_types, get_connector_class

from .errors import Conflict, InvalidInput, VendorFailure
from .models import Connection, Destination, DestinationStatus
from .selectors import NotFound, connection_get


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy.from_settings(settings.OUTBOUND_ALLOWED_NETWORKS, settings.CONNECTOR_BASE_URLS)


def connector_class_for(destination_type: str, *, field: str = "destination_type") -> type[Connector]:
    try:
        return get_connector_class(destination_type)
    except UnknownConnectorType:
        valid = connector_types()
        raise InvalidInput(
            {field: [f"Unknown destination type {destination_type!r}. Valid types: {', '.join(valid)}."]},
            extra={"valid_types": valid},
        ) from None


def merge_config(connector_cls: type[Connector], stored: dict, incoming: dict) -> dict:
    """Merge a sent config into the stored one key by key.

    `null` removes a key; a secret sent back as ******** (or a masked header value) keeps its stored value.
    """
    merged = copy.deepcopy(stored)
    secret_names = set(connector_cls.secret_fields())
    for key, value in incoming.items():
        if value is None:
            merged.pop(key, None)
        elif key in secret_names and value == MASK:
            continue
        elif key in secret_names and isinstance(value, dict):
            kept = stored.get(key) if isinstance(stored.get(key), dict) else {}
            merged[key] = {k: kept[k] if v == MASK else v for k, v in value.items() if v != MASK or k in kept}
        else:
            merged[key] = value
    return merged


def _drop_masks(connector_cls: type[Connector], config: dict) -> dict:
    """On create there is nothing stored to keep, so a ******** secret counts as not sent."""
    return merge_config(connector_cls, {}, config)


def resolve_connection(*, workspace, connection_id, destination_type: str) -> Connection | None:
    if connection_id is None:
        return None
    try:
        connection = connection_get(workspace=workspace, connection_id=connection_id)
    except NotFound:
        raise InvalidInput({"connection_id": ["No connection with this id in this workspace."]}) from None
    if connection.destination_type != destination_type:
        raise InvalidInput(
            {
                "connection_id": [
                    f"This connection is for {connection.destination_type!r} destinations, not {destination_type!r}."
                ]
            }
        )
    return connection


def validated_config(connector_cls: type[Connector], config: dict, connection: Connection | None) -> dict:
    """The effective config (connection credentials filling gaps) after validation; raises InvalidInput."""
    effective = {**(connection.credentials if connection else {}), **config}
    errors = connector_cls.validate_config(effective)
    if errors:
        raise InvalidInput(errors)
    return effective


@transaction.atomic
def destination_create(
    *,
    workspace,
    actor,
    name: str,
    destination_type: str,
    config: dict,
    connection_id=None,
    check_interval_minutes: int | None = None,
) -> Destination:
    connector_cls = connector_class_for(destination_type)
    connection = resolve_connection(workspace=workspace, connection_id=connection_id, destination_type=destination_type)
    config = _drop_masks(connector_cls, config)
    validated_config(connector_cls, config, connection)
    destination = Destination(
        workspace=workspace,
        name=name,
        destination_type=destination_type,
        connection=connection,
        created_by=actor,
        check_interval_minutes=check_interval_minutes,
    )
    destination.store_config(config)
    destination.save()
    return destination


@transaction.atomic
def destination_update(*, destination: Destination, actor, data: dict) -> Destination:
    """Change only the fields in `data`; a change to config, connection or type resets the status."""
    destination = Destination.objects.select_for_update().get(pk=destination.pk)
    old_type = destination.destination_type
    new_type = data.get("destination_type", old_type)
    connector_cls = connector_class_for(new_type)
    type_changed = new_type != old_type
    if type_changed and "config" not in data:
        raise InvalidInput({"config": [f"Required when destination_type changes; send a full {new_type} config."]})

    connection = destination.connection
    if "connection_id" in data:
        connection = resolve_connection(
            workspace=destination.workspace, connection_id=data["connection_id"], destination_type=new_type
        )
    elif type_changed and connection is not None:
        resolve_connection(workspace=destination.workspace, connection_id=connection.pk, destination_type=new_type)

    config = destination.own_config()
    if type_changed:
        config = _drop_masks(connector_cls, data["config"])
    elif "config" in data:
        config = merge_config(connector_cls, config, data["config"])
    config_changed = config != destination.own_config()
    connection_changed = connection != destination.connection
    validated_config(connector_cls, config, connection)

    if "name" in data:
        destination.name = data["name"]
    if "check_interval_minutes" in data:  # the scheduled re-test interval (destinations/health.py)
        destination.check_interval_minutes = data["check_interval_minutes"]
    if type_changed or config_changed or connection_changed:
        destination.destination_type = new_type
        destination.connection = connection
        destination.store_config(config)
        destination.status = DestinationStatus.PENDING
        destination.status_error = ""
        destination.fields_cache = None
        destination.fields_cached_at = None
    destination.save()
    return destination


def blocking_references(protected_objects) -> list[dict]:
    return [
        {"type": getattr(obj, "BLOCKING_TYPE", "destination"), "id": str(obj.pk), "name": obj.name}
        for obj in sorted(protected_objects, key=lambda o: (type(o).__name__, o.name))
    ]


@transaction.atomic
def destination_delete(*, destination: Destination) -> None:
    try:
        destination.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(f"{b['type']} {b['name']!r}" for b in blocking)
        detail = f"This destination is used by active {names}; deactivate or detach them first."
        raise Conflict(detail, blocking) from None


# --- shared connections ---------------------------------------------------------------------------


def _validated_credentials(connector_cls: type[Connector], credentials: dict) -> dict:
    errors = connector_cls.validate_config(credentials, partial=True)
    if errors:
        raise InvalidInput({path.replace("config", "credentials", 1): msgs for path, msgs in errors.items()})
    return credentials


@transaction.atomic
def connection_create(*, workspace, actor, name: str, destination_type: str, credentials: dict) -> Connection:
    connector_cls = connector_class_for(destination_type)
    credentials = _validated_credentials(connector_cls, _drop_masks(connector_cls, credentials))
    return Connection.objects.create(
        workspace=workspace, name=name, destination_type=destination_type, credentials=credentials, created_by=actor
    )


@transaction.atomic
def connection_update(*, connection: Connection, actor, data: dict) -> Connection:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if "destination_type" in data and data["destination_type"] != connection.destination_type:
        users = list(connection.destinations.all())
        if users:
            raise Conflict(
                "The type of a connection in use cannot change.",
                [{"type": "destination", "id": str(d.pk), "name": d.name} for d in users],
            )
        connection.destination_type = data["destination_type"]
        connection.credentials = {}
    connector_cls = connector_class_for(connection.destination_type)
    if "name" in data:
        connection.name = data["name"]
    if "credentials" in data:
        credentials = merge_config(connector_cls, connection.credentials, data["credentials"])
        credentials = _validated_credentials(connector_cls, credentials)
        changed = credentials != connection.credentials
        connection.credentials = credentials
        if changed:
            for destination in connection.destinations.all():
                errors = connector_cls.validate_config({**credentials, **destination.own_config()})
                if errors:
                    raise InvalidInput(
                        {
                            "credentials": [
                                f"Destination {destination.name!r} would become invalid: "
                                + "; ".join(f"{p}: {' '.join(m)}" for p, m in errors.items())
                            ]
                        }
                    )
            connection.destinations.update(
                status=DestinationStatus.PENDING, status_error="", fields_cache=None, fields_cached_at=None
            )
    connection.save()
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection) -> None:
    try:
        connection.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(repr(b["name"]) for b in blocking)
        detail = f"This connection is used by destinations {names}; change or delete them first."
        raise Conflict(detail, blocking) from None


def rotated_secrets_store(*, destination_id, rotated: dict) -> None:
    """Save secrets a vendor rotated during a test or field fetch where they came from (destination or connection)."""
    if not rotated:
        return
    with transaction.atomic():
        destination = Destination.objects.select_for_update().select_related("connection").get(pk=destination_id)
        own = {k: v for k, v in rotated.items() if k in destination.secrets or not destination.connection_id}
        if own:
            destination.store_config({**destination.own_config(), **own})
            destination.save(update_fields=["config", "secrets", "updated_at"])
        shared = {k: v for k, v in rotated.items() if k not in own}
        if shared:
            connection = destination.connection
            connection.credentials = {**connection.credentials, **shared}
            connection.save(update_fields=["credentials", "updated_at"])


# --- fields ------------------------------------------------------------------------------------------


def destination_fields(*, destination: Destination, refresh: bool = False) -> dict:
    """The fields a mapping can target; cached per destination, `refresh` reads the vendor anew."""
    fresh_after = timezone.now() - timedelta(seconds=settings.FIELDS_CACHE_SECONDS)
    cached = destination.fields_cache
    if cached and not refresh and destination.fields_cached_at and destination.fields_cached_at > fresh_after:
        description, fetched_at = cached, destination.fields_cached_at
    else:
        connector_cls = connector_class_for(destination.destination_type)
        connector = connector_cls(destination.effective_config(), policy=outbound_policy())
        try:
            description = connector.fields().as_dict()
        except ConnectorError as error:
            raise VendorFailure(error) from None
        finally:
            rotated_secrets_store(destination_id=destination.pk, rotated=connector.rotated_secrets)
        fetched_at = timezone.now()
        Destination.objects.filter(pk=destination.pk).update(fields_cache=description, fields_cached_at=fetched_at)
        destination.fields_cache, destination.fields_cached_at = description, fetched_at
    return {
        "destination_id": str(destination.pk),
        "destination_type": destination.destination_type,
        "object": description["object"],
        "source": description["source"],
        "fetched_at": fetched_at,
        "fields": description["fields"],
        **({"options": description["options"]} if description.get("options") else {}),
    }
