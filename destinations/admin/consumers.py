"""Pipelines and syncs: the consumers of a destination."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from ..models import ReverseETLPipeline, Sync


class ConsumerForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        destination = cleaned.get("destination")
        if workspace is not None and destination is not None and destination.workspace_id != workspace.pk:
            self.add_error("destination", "The destination must be in the same workspace.")
        return cleaned


class ConsumerAdmin(admin.ModelAdmin):
    form = ConsumerForm
    list_display = ("name", "workspace", "destination", "is_active", "created_at")
    list_filter = ("is_active", "workspace")
    list_select_related = ("workspace", "destination")
    search_fields = ("name", "destination__name")
    raw_id_fields = ("destination",)
    fields = ("workspace", "name", "destination", "is_active")


@admin.register(ReverseETLPipeline)
class ReverseETLPipelineAdmin(ConsumerAdmin):
    pass


@admin.register(Sync)
class SyncAdmin(ConsumerAdmin):
    pass
