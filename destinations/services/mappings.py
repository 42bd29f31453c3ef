"""Checking a sync's mapping against the destination's fields, from the fields cache or read live."""

from __future__ import annotations

from connectors.runtime.mapping import validate_mapping

from ..models import Destination
from .fields import destination_fields_read


def destination_mapping_validate(*, destination: Destination, request: dict, refresh: bool = False) -> dict:
    """The mapping check's answer for `request` (already shape-checked), with where the fields came from."""
    fields, from_cache = destination_fields_read(destination=destination, refresh=refresh)
    answer = validate_mapping(fields, request)
    return {
        "destination_id": fields["destination_id"],
        "fields_from": "cache" if from_cache else "live",
        "fetched_at": fields["fetched_at"],
        **answer,
    }
