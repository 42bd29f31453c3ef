"""The DRF schema class (its own module: DEFAULT_SCHEMA_CLASS is imported while drf_spectacular.views loads)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiResponse

from .serializers import ErrorSerializer

BODY_TOO_LARGE = OpenApiResponse(
    ErrorSerializer, description="The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default)."
)


class AutoSchema(SpectacularAutoSchema):
    """Describes an operation by its own docstrings only (not the base view's, which is about its internals), and
    the 413 of every operation that reads a body."""

    def get_description(self) -> str:
        method = getattr(self.view, self.method.lower(), None)
        own = self.view.__class__.__doc__
        return get_doc(method) or (get_doc(self.view.__class__) if own else "")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            responses["413"] = self._get_response_for_code(BODY_TOO_LARGE, "413", direction=direction)
        return responses
