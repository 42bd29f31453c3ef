"""The DRF schema class (its own module: DEFAULT_SCHEMA_CLASS is imported while drf_spectacular.views loads)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc


class AutoSchema(SpectacularAutoSchema):
    """Describes an operation by its own docstrings only: not the base view's, which is about its internals."""

    def get_description(self) -> str:
        method = getattr(self.view, self.method.lower(), None)
        own = self.view.__class__.__doc__
        return get_doc(method) or (get_doc(self.view.__class__) if own else "")
