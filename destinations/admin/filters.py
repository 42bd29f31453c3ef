"""Changelist filters that show labels, not keys."""

from __future__ import annotations

from django.contrib import admin

from connectors.runtime.registry import connector_types
from workspaces.models import Workspace

from .display import type_label, workspace_label


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
    """By workspace; same-named workspaces are told apart by their id prefix."""

    title = "workspace"
    parameter_name = "workspace__id__exact"

    def lookups(self, request, model_admin):
        used = model_admin.get_queryset(request).values("workspace_id")
        return [(str(w.pk), workspace_label(w)) for w in Workspace.objects.filter(pk__in=used).order_by("name", "pk")]

    def queryset(self, request, queryset):
        return queryset.filter(workspace_id=self.value()) if self.value() else queryset
