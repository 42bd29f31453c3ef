"""Writes and vendor reads, by sub-domain. Views, admin, commands and the test runs call these.

The package names the writes the faces call (`services.destination_create`, ...); each lives in its module.
"""

from .connections import (
    connection_create,
    connection_credentials_check,
    connection_delete,
    connection_update,
    resolve_connection,
)
from .destinations import (
    destination_config_check,
    destination_create,
    destination_delete,
    destination_update,
    rotated_secrets_store,
)
from .fields import destination_fields
from .mappings import destination_mapping_validate

__all__ = [
    "connection_create",
    "connection_credentials_check",
    "connection_delete",
    "connection_update",
    "destination_config_check",
    "destination_create",
    "destination_delete",
    "destination_fields",
    "destination_mapping_validate",
    "destination_update",
    "resolve_connection",
    "rotated_secrets_store",
]
