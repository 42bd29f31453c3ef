"""Writes for destinations and shared connections, and field discovery. Views, admin and commands call these."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundPolicy

from .audit import audit_record, config_changes
from .config import (
    connector_class_for,
    effective_config,
    merge_config,
    new_config,
    validated_credentials,
)
from .errors import Conflict, InvalidInput, VendorFailure
from .models import AuditAction, Connection, Destination, DestinationStatus
from .selectors import NotFound, connection_get


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy.from_settings(
        settings.OUTBOUND_ALLOWED_NETWORKS,
        settings.CONNECTOR_BASE_URLS,
        max_response_bytes=settings.CONNECTOR_MAX_RESPONSE_BYTES,
    )


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


def destination_config_check(
    *, workspace, destination_type: str, config: dict, connection_id=None
) -> tuple[Connection | None, dict, dict]:
    """A new destination's (connection, own config, effective config), checked; raises InvalidInput."""
    connector_cls = connector_class_for(destination_type)
    connection = resolve_connection(workspace=workspace, connection_id=connection_id, destination_type=destination_type)
    config = new_config(connector_cls, config)
    return connection, config, effective_config(connector_cls, config, connection.credentials if connection else None)


@transaction.atomic
def destination_create(
    *,
    workspace,
    actor,
    via: str,
    name: str,
    destination_type: str,
    config: dict,
    connection_id=None,
    check_interval_minutes: int | None = None,
) -> Destination:
    """`via`: what the change came through (api, admin, cli, …), for the audit history."""
    connection, config, _effective = destination_config_check(
        workspace=workspace, destination_type=destination_type, config=config, connection_id=connection_id
    )
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
    changed, secret = config_changes(connector_class_for(destination_type), {}, config, prefix="config")
    audit_record(
        workspace=workspace,
        actor=actor,
        via=via,
        action=AuditAction.CREATE,
        target=destination,
        changed_fields=["name", "destination_type", *(["connection_id"] if connection else []), *changed],
        secret_fields=secret,
    )
    return destination


@transaction.atomic
def destination_update(*, destination: Destination, actor, via: str, data: dict) -> Destination:
    """Change only the fields in `data`; a change to config, connection or type resets the status."""
    destination = Destination.objects.select_for_update().get(pk=destination.pk)
    before = {"name": destination.name, "destination_type": destination.destination_type}
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
        config = new_config(connector_cls, data["config"])
    elif "config" in data:
        config = merge_config(connector_cls, config, data["config"])
    config_changed = config != destination.own_config()
    connection_changed = connection != destination.connection
    effective_config(connector_cls, config, connection.credentials if connection else None)
    changed, secret = config_changes(connector_cls, destination.own_config(), config, prefix="config")

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
    destination.save()
    changed += [name for name, old in before.items() if getattr(destination, name) != old]
    if connection_changed:
        changed.append("connection_id")
    if changed:
        audit_record(
            workspace=destination.workspace,
            actor=actor,
            via=via,
            action=AuditAction.UPDATE,
            target=destination,
            changed_fields=changed,
            secret_fields=secret,
        )
    return destination


def blocking_references(protected_objects) -> list[dict]:
    return [
        {"type": getattr(obj, "BLOCKING_TYPE", "destination"), "id": str(obj.pk), "name": obj.name}
        for obj in sorted(protected_objects, key=lambda o: (type(o).__name__, o.name))
    ]


@transaction.atomic
def destination_delete(*, destination: Destination, actor, via: str) -> None:
    target_id = destination.pk
    try:
        destination.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(f"{b['type']} {b['name']!r}" for b in blocking)
        detail = f"This destination is used by active {names}; deactivate or detach them first."
        raise Conflict(detail, blocking) from None
    destination.pk = target_id  # Django clears it on delete; the history keeps it
    audit_record(workspace=destination.workspace, actor=actor, via=via, action=AuditAction.DELETE, target=destination)


# --- shared connections ---------------------------------------------------------------------------


def connection_credentials_check(*, destination_type: str, credentials: dict) -> dict:
    """A new connection's credentials, checked as create stores them; raises InvalidInput."""
    connector_cls = connector_class_for(destination_type)
    return validated_credentials(connector_cls, new_config(connector_cls, credentials, field="credentials"))


@transaction.atomic
def connection_create(*, workspace, actor, via: str, name: str, destination_type: str, credentials: dict) -> Connection:
    credentials = connection_credentials_check(destination_type=destination_type, credentials=credentials)
    connection = Connection.objects.create(
        workspace=workspace, name=name, destination_type=destination_type, credentials=credentials, created_by=actor
    )
    connector_cls = connector_class_for(destination_type)
    changed, secret = config_changes(connector_cls, {}, credentials, prefix="credentials")
    audit_record(
        workspace=workspace,
        actor=actor,
        via=via,
        action=AuditAction.CREATE,
        target=connection,
        changed_fields=["name", "destination_type", *changed],
        secret_fields=secret,
    )
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, actor, via: str, data: dict) -> Connection:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = {"name": connection.name, "destination_type": connection.destination_type}
    before_credentials = dict(connection.credentials)
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
        credentials = merge_config(connector_cls, connection.credentials, data["credentials"], field="credentials")
        credentials = validated_credentials(connector_cls, credentials)
        changed = credentials != connection.credentials
        connection.credentials = credentials
        if changed:
            for destination in connection.destinations.all():
                try:
                    effective_config(connector_cls, destination.own_config(), credentials)
                except InvalidInput as exc:
                    raise InvalidInput(
                        {"credentials": [f"Destination {destination.name!r} would become invalid: {exc}"]}
                    ) from None
            connection.destinations.update(status=DestinationStatus.PENDING, status_error="")
    connection.save()
    changed, secret = config_changes(connector_cls, before_credentials, connection.credentials, prefix="credentials")
    changed += [name for name, old in before.items() if getattr(connection, name) != old]
    if changed:
        audit_record(
            workspace=connection.workspace,
            actor=actor,
            via=via,
            action=AuditAction.UPDATE,
            target=connection,
            changed_fields=changed,
            secret_fields=secret,
        )
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection, actor, via: str) -> None:
    target_id = connection.pk
    try:
        connection.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(repr(b["name"]) for b in blocking)
        detail = f"This connection is used by destinations {names}; change or delete them first."
        raise Conflict(detail, blocking) from None
    connection.pk = target_id
    audit_record(workspace=connection.workspace, actor=actor, via=via, action=AuditAction.DELETE, target=connection)


def rotated_secrets_store(*, destination_id, rotated: dict) -> None:
    """Save secrets a vendor rotated during a test or field fetch where they came from (destination or connection)."""
    if not rotated:
        return
    with transaction.atomic():
        # PostgreSQL refuses FOR UPDATE across the nullable connection join: lock the two rows one by one.
        destination = Destination.objects.select_for_update().get(pk=destination_id)
        own = {k: v for k, v in rotated.items() if k in destination.secrets or not destination.connection_id}
        if own:
            destination.store_config({**destination.own_config(), **own})
            destination.save(update_fields=["config", "secrets", "updated_at"])
        shared = {k: v for k, v in rotated.items() if k not in own}
        if shared:
            connection = Connection.objects.select_for_update().get(pk=destination.connection_id)
            connection.credentials = {**connection.credentials, **shared}
            connection.token_version = F("token_version") + 1  # an OAuth refresh in flight must not overwrite these
            connection.save(update_fields=["credentials", "token_version", "updated_at"])


# --- fields ------------------------------------------------------------------------------------------


def stored_config_digest(destination: Destination) -> str:
    """A keyed digest of what `destination` runs with (type, its config and its connection's credentials).

    It changes whenever any of them does: it keys the fields cache and tells a finishing test whether the
    config it tested is still the stored one. It reveals no secret.
    """
    tested = {"destination_type": destination.destination_type, "config": destination.effective_config()}
    text = json.dumps(tested, sort_keys=True, default=str).encode()
    return hmac.new(settings.SECRET_KEY.encode(), text, hashlib.sha256).hexdigest()


def _fields_cache_key(destination: Destination) -> str:
    return f"destination-fields:{destination.pk}:{stored_config_digest(destination)}"


def destination_fields(*, destination: Destination, refresh: bool = False) -> dict:
    """The fields a mapping can target; cached per destination and config in Django's cache (Redis in the
    distributed runtime), so a config change misses; `refresh` reads the vendor anew."""
    return destination_fields_read(destination=destination, refresh=refresh)[0]


def destination_fields_read(*, destination: Destination, refresh: bool = False) -> tuple[dict, bool]:
    """destination_fields, and whether they came from the cache."""
    cached = None if refresh else cache.get(_fields_cache_key(destination))
    if cached is not None:
        description, fetched_at = cached["description"], cached["fetched_at"]
    else:
        from .oauth import connection_refresh_if_due  # oauth builds on this module

        connection_refresh_if_due(destination.connection)
        connector_cls = connector_class_for(destination.destination_type)
        connector = connector_cls(destination.effective_config(), policy=outbound_policy())
        try:
            description = connector.fields(timeout=settings.FIELDS_TIMEOUT_SECONDS).as_dict()
        except ConnectorError as error:
            raise VendorFailure(error) from None
        finally:
            rotated_secrets_store(destination_id=destination.pk, rotated=connector.rotated_secrets)
        fetched_at = timezone.now()
        if connector.rotated_secrets:  # the stored config changed: cache under its new key
            destination = Destination.objects.select_related("connection").get(pk=destination.pk)
        cache.set(
            _fields_cache_key(destination),
            {"description": description, "fetched_at": fetched_at},
            timeout=settings.FIELDS_CACHE_SECONDS,
        )
    return {
        "destination_id": str(destination.pk),
        "destination_type": destination.destination_type,
        "object": description["object"],
        "source": description["source"],
        "fetched_at": fetched_at,
        "fields": description["fields"],
        **({"options": description["options"]} if description.get("options") else {}),
        **{key: description[key] for key in ("new_fields", "sync_modes") if description.get(key)},
    }, cached is not None
