"""OpenAPI: each type's config schema as a component, and typed request bodies (oneOf by destination_type)."""

from __future__ import annotations

import copy

from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView
from rest_framework.response import Response

from connectors.registry import connector_classes

# operationId -> (the body's name for the config, whether the config may be partial)
TYPED_BODIES = {
    "destinations_create": ("config", False),
    "destinations_test_new": ("config", False),
    "connections_create": ("credentials", True),
}


def _pascal(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def _variant(base: dict, type_name: str, config_key: str, config_ref: str) -> dict:
    variant = copy.deepcopy(base)
    variant["properties"]["destination_type"] = {"type": "string", "const": type_name}
    variant["properties"][config_key] = {"$ref": config_ref}
    return variant


def typed_config_bodies(result, generator, request, public):
    """drf-spectacular postprocessing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for type_name, cls in connector_classes().items():
        config = copy.deepcopy(cls.config_schema)
        schemas[f"{_pascal(type_name)}Config"] = config
        partial = {k: v for k, v in config.items() if k != "required"}
        schemas[f"{_pascal(type_name)}Credentials"] = partial

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
                    base, type_name, config_key, f"#/components/schemas/{_pascal(type_name)}{suffix}"
                )
                mapping[type_name] = f"#/components/schemas/{variant_name}"
            typed_name = f"{base_name}Typed"
            schemas[typed_name] = {
                "oneOf": [{"$ref": ref} for ref in mapping.values()],
                "discriminator": {"propertyName": "destination_type", "mapping": mapping},
            }
            content["schema"] = {"$ref": f"#/components/schemas/{typed_name}"}
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer <token>` (tokens are created by create_workspace or in the admin)."""

    target_class = "workspaces.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token, e.g. `zdt_…`."}


class CachedSpectacularAPIView(SpectacularAPIView):
    """/api/schema/ generated and rendered once per format and query, not on every request (it is static
    for a deployment: generating it cost ~55 ms of CPU per request)."""

    _cache: dict = {}

    @extend_schema(**SCHEMA_KWARGS)  # as the parent's (it documents itself only if SERVE_INCLUDE_SCHEMA)
    def get(self, request, *args, **kwargs):
        key = self._cache_key(request)
        cached = self._cache.get(key)
        if cached is None:
            return super().get(request, *args, **kwargs)
        content, headers = cached
        return HttpResponse(content, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code == 200:
            response.render()
            headers = {name: response[name] for name in ("Content-Type", "Content-Disposition")}
            self._cache[self._cache_key(request)] = (response.content, headers)
        return response

    def _cache_key(self, request) -> tuple:
        media_type = self.perform_content_negotiation(request, force=True)[1]
        return (media_type, request.GET.get("lang"), request.GET.get("version"))
