"""Field discovery: the vendor read of what a mapping can target, cached per destination and config."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from connectors.runtime.errors import ConnectorError

from ..config import (
    connector_class_for,
    outbound_policy,
)
from ..errors import VendorFailure
from ..models import Destination, stored_config_digest
from .destinations import rotated_secrets_store
from .oauth_tokens import connection_refresh_if_due


def _fields_cache_key(destination: Destination) -> str:
    return f"destination-fields:{destination.pk}:{stored_config_digest(destination)}"


def destination_fields(*, destination: Destination, refresh: bool = False) -> dict:
    """The fields a mapping can target; cached per destination and config in Django's cache (Redis in the
    distributed runtime), so a config change misses; `refresh` reads the vendor anew."""
    cached = None if refresh else cache.get(_fields_cache_key(destination))
    if cached is not None:
        description, fetched_at = cached["description"], cached["fetched_at"]
    else:
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
    }
