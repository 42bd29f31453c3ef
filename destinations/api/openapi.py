"""OpenAPI: each type's config schema as a component, typed request bodies (oneOf by destination_type), servers.

Every component gets a `title` equal to its name: client generators name models by title, and the config and
credentials schemas of one type would otherwise share the connector's label and be dropped as duplicates.
"""

from __future__ import annotations

import copy

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.response import Response

from connectors.runtime.errors import ErrorCode
from connectors.runtime.registry import connector_classes

# operationId -> the body's name for the config. Each takes the type's config with every field optional:
# what {Type}Config requires may come from a shared connection (connection_id), and a connection holds part.
TYPED_BODIES = {
    "destinations_create": "config",
    "destinations_test_new": "config",
    "connections_create": "credentials",
}


def _pascal(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def _variant(base: dict, type_name: str, config_key: str, config_ref: str, title: str) -> dict:
    variant = copy.deepcopy(base)
    variant["title"] = title
    variant["properties"]["destination_type"] = {"type": "string", "const": type_name}
    variant["properties"][config_key] = {"$ref": config_ref}
    return variant


def _as_request(config_schema: dict) -> dict:
    """A type's config schema as a request body takes it: a secret may be blank or ******** (not set / kept)."""
    schema = copy.deepcopy(config_schema)
    for spec in schema.get("properties", {}).values():
        if spec.get("writeOnly") and spec.get("type") == "string":
            spec.pop("minLength", None)
            spec["description"] = spec.get("description", "") + " Blank or ******** keeps the stored value."
    return schema


def _credentials(cls) -> dict:
    """The part of a type's example config a shared connection holds: its secrets and where they are sent."""
    props = cls.config_schema.get("properties", {})
    shared = {
        key: value
        for key, value in cls.example_config.items()
        if props.get(key, {}).get("writeOnly") or props.get(key, {}).get("x-credential-host")
    }
    return shared or dict(cls.example_config)


def _example_body(cls, base: dict, config_key: str) -> dict:
    """A request body for `cls`'s type, from its connector's example config, with the fields `base` takes."""
    body = {"name": cls.label} if "name" in base.get("properties", {}) else {}
    body["destination_type"] = cls.type
    body[config_key] = _credentials(cls) if config_key == "credentials" else cls.example_config
    return body


def _examples_first(types: dict) -> dict:
    """The types, those to try first (they need no vendor account) first."""
    return dict(sorted(types.items(), key=lambda item: not connector_classes()[item[0]].try_first))


def typed_config_bodies(result, generator, request, public):
    """drf-spectacular postprocessing hook: a oneOf body by destination_type, with one example per type."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for type_name, cls in connector_classes().items():
        config = _as_request(cls.config_schema)
        schemas[f"{_pascal(type_name)}Config"] = {**config, "title": f"{_pascal(type_name)}Config"}
        partial = {k: v for k, v in config.items() if k != "required"}
        schemas[f"{_pascal(type_name)}ConfigPartial"] = {
            **partial,
            "title": f"{_pascal(type_name)}ConfigPartial",
            "description": f"{_pascal(type_name)}Config with every field optional: what it requires may come from "
            "the shared connection (`connection_id`); a 400 names what is still missing.",
        }

    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in TYPED_BODIES:
                continue
            config_key = TYPED_BODIES[operation["operationId"]]
            content = operation["requestBody"]["content"]["application/json"]
            base_ref = content["schema"]["$ref"]
            base = schemas[base_ref.rsplit("/", 1)[1]]
            base_name = base_ref.rsplit("/", 1)[1]
            mapping, examples = {}, {}
            for type_name, cls in _examples_first(connector_classes()).items():
                variant_name = f"{base_name}{_pascal(type_name)}"
                schemas[variant_name] = _variant(
                    base, type_name, config_key, f"#/components/schemas/{_pascal(type_name)}ConfigPartial", variant_name
                )
                example = _example_body(cls, base, config_key)
                schemas[variant_name]["examples"] = [example]
                mapping[type_name] = f"#/components/schemas/{variant_name}"
                examples[type_name] = {"summary": cls.label, "value": example}
            typed_name = f"{base_name}Typed"
            schemas[typed_name] = {
                "title": typed_name,
                "oneOf": [{"$ref": ref} for ref in mapping.values()],
                "discriminator": {"propertyName": "destination_type", "mapping": mapping},
            }
            content["schema"] = {"$ref": f"#/components/schemas/{typed_name}"}
            # Swagger UI offers these in a list, instead of a sample made up from patterns
            content["examples"] = examples
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


def _json_event(event_type: str, data_ref: str, *, channel: str = "testrun") -> dict:
    """One SSE event as OpenAPI 3.1 describes an event-stream item: `data` is JSON text of `data_ref`."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": event_type},
            "id": {"type": "string", "pattern": rf"^{channel}-[0-9a-f]{{8}}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}:\d+$"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{data_ref}"},
            },
        },
    }


STEP_EVENT = {
    "type": "object",
    "required": ["name", "status", "message", "duration_ms"],
    "properties": {
        "name": {"type": "string"},
        "status": {"enum": ["passed", "failed", "skipped"]},
        "message": {"type": "string"},
        "duration_ms": {"type": "integer", "minimum": 0},
        "error": {
            "type": "object",
            "required": ["code", "retryable", "remediation"],
            "properties": {
                "code": {"enum": [str(code) for code in ErrorCode]},
                "retryable": {"type": "boolean"},
                "remediation": {"type": "string"},
                "http_status": {"type": "integer"},
                "vendor_code": {"type": "string"},
                "retry_after": {"type": "number"},
            },
        },
        "details": {"type": "object"},
    },
}
DONE_EVENT = {
    "type": "object",
    "required": ["success", "steps", "duration_ms", "test_run_id"],
    "properties": {
        "success": {"type": "boolean"},
        "steps": {"type": "array", "items": {"$ref": "#/components/schemas/TestStepEvent"}},
        "duration_ms": {"type": "integer", "minimum": 0},
        "test_run_id": {"type": "string", "format": "uuid"},
        "destination": {"$ref": "#/components/schemas/Destination"},
        "error": {"type": "string", "description": "Why the run could not complete (an interrupted worker, say)."},
        "error_code": {
            "type": "string",
            "enum": ["interrupted"],
            "description": "`interrupted`: the process running the test stopped; the status is unchanged.",
        },
    },
}


# The test-job progress stream (`TestJobEventsView`): its own events.
JOB_STREAMS = {"test_jobs_events"}
JOB_RESULT_EVENT = {
    "type": "object",
    "required": ["job_id", "total", "done", "passed", "failed", "missing", "result"],
    "properties": {
        "job_id": {"type": "string", "format": "uuid"},
        **{name: {"type": "integer", "minimum": 0} for name in ("total", "done", "passed", "failed", "missing")},
        "result": {"$ref": "#/components/schemas/TestJobResult"},
    },
}


STREAMING_CLIENTS_DOC = settings.BASE_DIR / "docs" / "streaming-clients.md"
STREAMING_NOTICE = (
    "\n\n**Connection tests stream.** Their steps are Server-Sent Events sent as each check finishes. This page "
    "shows a stream only once it has ended, all at once; to watch the steps arrive, use `curl -N` or a "
    "streaming client. A browser app follows a run with `fetch-event-source` or `EventSource`: see "
    "[Streaming clients](/api/docs/streaming-clients)."
)


def sse_event_schemas(result, generator, request, public):
    """drf-spectacular postprocessing hook: each text/event-stream answer described event by event."""
    info = result.setdefault("info", {})
    info["description"] = info.get("description", "") + STREAMING_NOTICE
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["TestStepEvent"] = STEP_EVENT
    schemas["TestDoneEvent"] = DONE_EVENT
    schemas["TestRunStreamEvent"] = {
        "description": "One Server-Sent Event of a connection test: `step` per check, then one `done`.",
        "oneOf": [_json_event("step", "TestStepEvent"), _json_event("done", "TestDoneEvent")],
    }
    schemas["TestJobResultEvent"] = JOB_RESULT_EVENT
    schemas["TestJobStreamEvent"] = {
        "description": "One Server-Sent Event of a test job: `result` per destination, then one `done` (the job).",
        "oneOf": [
            _json_event("result", "TestJobResultEvent", channel="testjob"),
            _json_event("done", "TestJob", channel="testjob"),
        ],
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for response in (operation.get("responses") or {}).values() if isinstance(operation, dict) else ():
                stream = response.get("content", {}).get("text/event-stream")
                if stream is not None:
                    events = (
                        "TestJobStreamEvent" if operation.get("operationId") in JOB_STREAMS else "TestRunStreamEvent"
                    )
                    # Each event is one of these (as SSE-aware tools such as schemathesis read it); a generated
                    # client without SSE support reads the whole stream as one string.
                    stream["schema"] = {
                        "anyOf": [
                            {"$ref": f"#/components/schemas/{events}"},
                            {"type": "string", "description": "The whole stream as text, read to its end."},
                        ]
                    }
    return result


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
        # the host too: `servers` names the host that was asked
        return (media_type, request.get_host(), request.GET.get("lang"), request.GET.get("version"))


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, its start-up script served as a file (the CSP allows no inline script), plus the plugin
    that fills X-Workspace-ID from the path (destinations/static/destinations/api_docs.js)."""

    template_name = "api/swagger_ui.html"


def streaming_clients_doc(request):
    """docs/streaming-clients.md, as the Swagger page links it (Markdown, read as plain text)."""
    if not STREAMING_CLIENTS_DOC.exists():
        raise Http404("The streaming-clients page is not deployed with this server.")
    return FileResponse(STREAMING_CLIENTS_DOC.open("rb"), content_type="text/plain; charset=utf-8")
