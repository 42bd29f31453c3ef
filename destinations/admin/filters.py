"""Changelist filters that show labels, not keys."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import Exists, OuterRef

from connectors.runtime.registry import connector_types
from workspaces.models import Workspace

from .display import type_label, workspace_label

WORKSPACE_CHOICES = 100


class TypeFilter(admin.SimpleListFilter):
    """By type, with the types' labels ("Salesforce"), not their keys."""

    title = "type"
    parameter_name = "destination_type__exact"

    def lookups(self, request, model_admin):
        # .order_by(): with the model's default ordering DISTINCT would run over (type, ordering column) pairs.
        used = set(model_admin.get_queryset(request).order_by().values_list("destination_type", flat=True).distinct())
        return sorted(((t, type_label(t)) for t in used), key=lambda choice: choice[1].lower())

    def queryset(self, request, queryset):
        return queryset.filter(destination_type=self.value()) if self.value() else queryset


class RegisteredTypeFilter(TypeFilter):
    """By type, offering every registered type: for a table of millions (test runs) the types used are not
    worth a scan of it."""

    def lookups(self, request, model_admin):
        return sorted(((t, type_label(t)) for t in connector_types()), key=lambda choice: choice[1].lower())


class WorkspaceFilter(admin.SimpleListFilter):
    """By workspace; same-named workspaces are told apart by their id prefix.

    A fleet has thousands of workspaces: the filter offers the first WORKSPACE_CHOICES by name (and the one
    chosen), so the page stays the same size; any other is reached from its workspace's admin page."""

    title = "workspace"
    parameter_name = "workspace__id__exact"

    def lookups(self, request, model_admin):
        used = model_admin.get_queryset(request).filter(workspace_id=OuterRef("pk"))
        first = list(Workspace.objects.filter(Exists(used)).order_by("name", "pk")[:WORKSPACE_CHOICES])
        chosen = self._chosen()
        if chosen is not None and chosen not in first:
            first.append(chosen)
        return [(str(w.pk), workspace_label(w)) for w in first]

    def _chosen(self) -> Workspace | None:
        try:
            return Workspace.objects.filter(pk=uuid.UUID(self.value())).first() if self.value() else None
        except ValueError:
            return None

    def queryset(self, request, queryset):
        return queryset.filter(workspace_id=self.value()) if self.value() else queryset
