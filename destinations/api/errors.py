"""One error shape: `{"detail": ..., "errors": {"path.to.field": [...]}}`, plus `blocking` on 409."""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import BackendUnavailable, Conflict, InvalidInput, VendorFailure
from ..selectors import NotFound


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
    if isinstance(exc, InvalidInput):
        return validation_response(exc.errors, exc.extra)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail, "blocking": exc.blocking}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, NotFound):
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, VendorFailure):
        body = {"detail": exc.error.message, "error": exc.error.as_dict()}
        return Response(body, status=status.HTTP_502_BAD_GATEWAY)
    if isinstance(exc, BackendUnavailable):
        response = Response({"detail": exc.detail}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ValidationError):
        response = validation_response(flatten_errors(exc.detail))
        return response
    return drf_exception_handler(exc, context)
