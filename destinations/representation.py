"""The destination object as the contract shows it, built without DRF's per-field machinery.

Used by the API (list, detail) and by the connection-test service for the `done` event's `destination`.
"""

from __future__ import annotations

from .models import Destination

DESTINATION_FIELDS = (
    "id",
    "workspace_id",
    "connection_id",
    "name",
    "destination_type",
    "config",
    "status",
    "status_error",
    "created_by_id",
    "created_at",
    "updated_at",
    "credentials_expire_at",
)


def iso_z(value) -> str | None:
    """As DRF's DateTimeField renders an aware UTC datetime (…Z), without its per-call timezone work; None stays."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def destination_representation(row) -> dict:
    """The destination object from a mapping of DESTINATION_FIELDS.

    Listing thousands of destinations builds these straight from `.values()` rows: model instances and
    per-field serializer calls cost 4x the SQL itself (bench/api_bench.py).
    """
    connection_id, created_by = row["connection_id"], row["created_by_id"]
    return {
        "id": str(row["id"]),
        "workspace_id": str(row["workspace_id"]),
        "connection_id": str(connection_id) if connection_id else None,
        "name": row["name"],
        "destination_type": row["destination_type"],
        "config": row["config"],  # stored with secrets masked
        "status": row["status"],
        "status_error": row["status_error"],
        "created_by": str(created_by) if created_by else None,
        "created_at": iso_z(row["created_at"]),
        "updated_at": iso_z(row["updated_at"]),
        # Beyond the contract: the soonest moment the credentials stop working, when a test learned it.
        "credentials_expire_at": iso_z(row["credentials_expire_at"]) if row["credentials_expire_at"] else None,
    }


def destination_as_dict(destination: Destination) -> dict:
    return destination_representation({name: getattr(destination, name) for name in DESTINATION_FIELDS})
