"""The connections admin: shared credentials, edited through the services, with OAuth Connect for OAuth types."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .. import services
from ..models import AuditVia, Connection
from .base import ServiceConfigForm, ServiceSaveMixin
from .connection_oauth import OAuthConnectionAdminMixin
from .display import status_badge, type_label, workspace_label
from .filters import TypeFilter, WorkspaceFilter


class ConnectionForm(ServiceConfigForm):
    config_field = "credentials"
    config_label = "Credentials"
    config_help = (
        "The credentials shared by this workspace's destinations of this type; fill only what they share. "
        "Secrets show blank: leave them blank to keep the stored value."
    )
    error_prefix = "credentials"
    error_fields = {"name": "name", "destination_type": None}

    class Meta:
        model = Connection
        fields = ["workspace", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Credentials fill part of a config: nothing is required here.
        widget = self.fields[self.config_field].widget
        for spec in widget.schema["properties"].values():
            spec["required"] = False

    def stored_config(self) -> dict:
        return dict(self.instance.credentials)

    def service_call(self, cleaned: dict, config: dict):
        if self.instance._state.adding:
            return services.connection_create(
                via=AuditVia.ADMIN,
                workspace=cleaned["workspace"],
                actor=self.actor,
                name=cleaned["name"],
                destination_type=self.destination_type,
                credentials=config,
            )
        return services.connection_update(
            connection=self.instance,
            actor=self.actor,
            via=AuditVia.ADMIN,
            data={"name": cleaned["name"], "credentials": config},
        )


@admin.register(Connection)
class ConnectionAdmin(OAuthConnectionAdminMixin, ServiceSaveMixin, admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("name", "type_column", "workspace_column", "destinations_count", "created_at")
    list_filter = (TypeFilter, WorkspaceFilter)
    list_select_related = ("workspace",)
    search_fields = ("name",)
    readonly_fields = (
        "id",
        "type_column",
        "workspace_column",
        "used_by",
        "created_by",
        "created_at",
        "updated_at",
        *OAuthConnectionAdminMixin.oauth_readonly_fields,
    )
    actions = ("delete_selected",)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("workspace", "name", "credentials")})]
        return [
            (None, {"fields": ("id", "workspace_column", "name", "type_column", "credentials")}),
            *self.oauth_fieldsets(obj),
            ("Used by", {"fields": ("used_by",)}),
            ("History", {"fields": ("created_by", "created_at", "updated_at")}),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(destinations_total=Count("destinations"))

    @admin.display(description="Destinations", ordering="destinations_total")
    def destinations_count(self, connection: Connection) -> int:
        return connection.destinations_total

    @admin.display(description="Type", ordering="destination_type")
    def type_column(self, connection: Connection) -> str:
        return type_label(connection.destination_type)

    @admin.display(description="Workspace", ordering="workspace__name")
    def workspace_column(self, connection: Connection) -> str:
        return workspace_label(connection.workspace)

    @admin.display(description="Destinations using it")
    def used_by(self, connection: Connection):
        destinations = connection.destinations.order_by("name")
        if not destinations:
            return "None yet."
        return format_html(
            '<ul id="used-by">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a> {}</li>',
                (
                    (reverse("admin:destinations_destination_change", args=[d.pk]), d.name, status_badge(d.status))
                    for d in destinations
                ),
            ),
        )

    def service_delete(self, request, obj):
        services.connection_delete(connection=obj, actor=request.user, via=AuditVia.ADMIN)
