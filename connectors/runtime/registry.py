"""The one registry of connector classes. Adding a type is adding a module to `connectors/`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from .base import Connector

if TYPE_CHECKING:  # for the annotation only
    from .oauth import OAuthProvider

ADAPTERS_PACKAGE = __package__.rpartition(".")[0]

_registered: dict[str, type[Connector]] = {}


class UnknownConnectorType(LookupError):
    def __init__(self, type_name: str):
        self.type_name = type_name
        super().__init__(f"Unknown destination type {type_name!r}.")


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator for a connector module's one connector."""
    existing = _registered.get(cls.type)
    if existing is not None and existing is not cls:
        raise RuntimeError(f"Two connectors claim the type {cls.type!r}: {existing!r} and {cls!r}.")
    _registered[cls.type] = cls
    return cls


@cache
def connector_classes() -> MappingProxyType:
    """type -> class, sorted by type, fixed once loaded."""
    # Adapters are the plain modules of `connectors/`; the runtime is a package and helpers start with "_".
    adapters = importlib.import_module(ADAPTERS_PACKAGE)
    for module in pkgutil.iter_modules(adapters.__path__):
        if not module.ispkg and not module.name.startswith("_"):
            importlib.import_module(f"{ADAPTERS_PACKAGE}.{module.name}")
    return MappingProxyType(dict(sorted(_registered.items())))


def get_connector_class(type_name: str) -> type[Connector]:
    try:
        return connector_classes()[type_name]
    except KeyError:
        raise UnknownConnectorType(type_name) from None


def connector_types() -> list[str]:
    return list(connector_classes())


def provider_for(destination_type: str) -> OAuthProvider | None:
    """The type's OAuth provider, declared on its connector; None for a type that does not Connect with OAuth."""
    try:
        return get_connector_class(destination_type).oauth
    except UnknownConnectorType:
        return None


def oauth_types() -> list[str]:
    """The types that Connect with OAuth."""
    return [name for name, cls in connector_classes().items() if cls.oauth is not None]
