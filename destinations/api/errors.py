"""One error shape: `{"detail": ..., "errors": {"path.to.field": [...]}}`, plus `blocking` on 409.

A reused Idempotency-Key with another request is a 422 naming the header; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 naming the limit, whichever layer read it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..db import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE
from ..errors import BackendUnavailable, Conflict, IdempotencyKeyReused, InvalidInput, TooBusy, VendorFailure
from ..selectors import NotFound


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(
            f"The request body is larger than the limit of {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE). "
            "Send less in one request, or have the operator raise DATA_UPLOAD_MAX_MEMORY_SIZE."
        )


def flatten_errors(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error dicts as dotted field paths: {"config": {"url": [...]}} -> {"config.url": [...]}."""
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix or "non_field_errors"
            out.update(flatten_errors(value, path))
        return out
    if isinstance(data, list) and data and all(isinstance(item, dict | list) for item in data):
        out = {}
        for index, item in enumerate(data):
            out.update(flatten_errors(item, f"{prefix}.{index}"))
        return out
    items = data if isinstance(data, list) else [data]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def validation_response(errors: dict[str, list[str]], extra: dict | None = None) -> Response:
    fields = ", ".join(errors)
    body = {"detail": f"Invalid input: {fields}.", "errors": errors, **(extra or {})}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django's, raised on reading request.body
        exc = BodyTooLarge()
    if isinstance(exc, InvalidInput):
        return validation_response(exc.errors, exc.extra)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail, "blocking": exc.blocking}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IdempotencyKeyReused):
        body = {"detail": exc.detail, "errors": {"Idempotency-Key": [exc.detail]}}
        return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, NotFound):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, VendorFailure):
        body = {"detail": exc.error.message, "error": exc.error.as_dict()}
        return Response(body, status=status.HTTP_502_BAD_GATEWAY)
    if isinstance(exc, TooBusy):
        response = Response({"detail": exc.detail}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DATABASE_UNAVAILABLE):
        exc = BackendUnavailable(DATABASE_UNAVAILABLE_MESSAGE, retry_after=DATABASE_RETRY_AFTER_SECONDS)
    if isinstance(exc, RedisError | ConnectionInterrupted):  # the cache (rate limits, fields) or broker
        exc = BackendUnavailable("A backing service (Redis) is unavailable; try again shortly.")
    if isinstance(exc, BackendUnavailable):
        response = Response({"detail": exc.detail}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ValidationError):
        response = validation_response(flatten_errors(exc.detail))
        return response
    return drf_exception_handler(exc, context)


@csrf_exempt  # whatever the method, an unknown API path is a 404, not a CSRF failure page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /api/ path that names no endpoint (a malformed id, a trailing slash) is a JSON 404 like the rest."""
    detail = "Not found. Ids are UUIDs, and API paths have no trailing slash."
    return JsonResponse({"detail": detail}, status=404)


def api_bad_request(request, exception=None):
    """Django's own 400s outside a DRF view (a disallowed host, a body too large) in the API's shape."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": BodyTooLarge().detail}, status=BodyTooLarge.status_code)
    return JsonResponse({"detail": "Bad request: the request could not be read (malformed)."}, status=400)


def api_server_error(request):
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Internal server error; retry, and report it if it persists."}, status=500)
