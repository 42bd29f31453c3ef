"""OpenAPI: each type's config schema as a component, typed request bodies (oneOf by destination_type), servers.

Every component gets a `title` equal to its name: client generators name models by title, and the config and
credentials schemas of one type would otherwise share the connector's label and be dropped as duplicates.
"""

from __future__ import annotations

import copy

from django.conf import settings
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc

from connectors.registry import connector_classes

# operationId -> (the body's name for the config, whether the config may be partial)
TYPED_BODIES = {
    "destinations_create": ("config", False),
    "destinations_test_new": ("config", False),
    "connections_create": ("credentials", True),
}


def _pascal(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def _variant(base: dict, type_name: str, config_key: str, config_ref: str, title: str) -> dict:
    variant = copy.deepcopy(base)
    variant["title"] = title
    variant["properties"]["destination_type"] = {"type": "string", "const": type_name}
    variant["properties"][config_key] = {"$ref": config_ref}
    return variant


def typed_config_bodies(result, generator, request, public):
    """drf-spectacular postprocessing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for type_name, cls in connector_classes().items():
        config = copy.deepcopy(cls.config_schema)
        schemas[f"{_pascal(type_name)}Config"] = {**config, "title": f"{_pascal(type_name)}Config"}
        partial = {k: v for k, v in config.items() if k != "required"}
        schemas[f"{_pascal(type_name)}Credentials"] = {**partial, "title": f"{_pascal(type_name)}Credentials"}

    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in TYPED_BODIES:
                continue
            config_key, partial = TYPED_BODIES[operation["operationId"]]
            content = operation["requestBody"]["content"]["application/json"]
            base_ref = content["schema"]["$ref"]
            base = schemas[base_ref.rsplit("/", 1)[1]]
            base_name = base_ref.rsplit("/", 1)[1]
            mapping = {}
            for type_name in connector_classes():
                suffix = "Credentials" if partial else "Config"
                variant_name = f"{base_name}{_pascal(type_name)}"
                schemas[variant_name] = _variant(
                    base, type_name, config_key, f"#/components/schemas/{_pascal(type_name)}{suffix}", variant_name
                )
                mapping[type_name] = f"#/components/schemas/{variant_name}"
            typed_name = f"{base_name}Typed"
            schemas[typed_name] = {
                "title": typed_name,
                "oneOf": [{"$ref": ref} for ref in mapping.values()],
                "discriminator": {"propertyName": "destination_type", "mapping": mapping},
            }
            content["schema"] = {"$ref": f"#/components/schemas/{typed_name}"}
    return result


def servers(result, generator, request, public):
    """drf-spectacular postprocessing hook: the server that answered (so "Try it out" targets it)."""
    url = request.build_absolute_uri("/").rstrip("/") if request is not None else settings.API_PUBLIC_URL
    result["servers"] = [{"url": url, "description": "This server"}]
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer <token>` (tokens are created by create_workspace or in the admin)."""

    target_class = "workspaces.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token, e.g. `zdt_…`."}


class StaffSessionScheme(SessionScheme):
    """Development's session login (staff only) for the browsable API, documented as the cookie it is."""

    target_class = "workspaces.authentication.StaffSessionAuthentication"


class AutoSchema(SpectacularAutoSchema):
    """Describes an operation by its own docstrings only: not the base view's, which is about its internals."""

    def get_description(self) -> str:
        method = getattr(self.view, self.method.lower(), None)
        own = self.view.__class__.__doc__
        return get_doc(method) or (get_doc(self.view.__class__) if own else "")
