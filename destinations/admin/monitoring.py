"""Admin for scheduled health checks and notifications: settings per workspace, the notification log.

The signing secret is shown once, on the page that answers its creation or rotation (not cached, never
in a message, a redirect or the log), like API tokens.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ..errors import InvalidInput
from ..models import Notification, WorkspaceMonitoring
from ..services.notifications import notification_url_validate, signing_secret_rotate, workspace_monitoring_update
from .base import ReadOnlyAdmin

SECRET_TEMPLATE = "admin/destinations/workspacemonitoring/secret_shown.html"


class WorkspaceMonitoringForm(forms.ModelForm):
    notification_url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text=WorkspaceMonitoring._meta.get_field("notification_url").help_text,
    )

    class Meta:
        model = WorkspaceMonitoring
        fields = ("workspace", "check_interval_minutes", "notification_url")

    def clean_notification_url(self):
        try:
            return notification_url_validate(self.cleaned_data.get("notification_url", ""))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.errors["notification_url"]) from None


@admin.register(WorkspaceMonitoring)
class WorkspaceMonitoringAdmin(admin.ModelAdmin):
    form = WorkspaceMonitoringForm
    list_display = ("workspace", "interval", "notification_url", "secret_rotated_at")
    list_select_related = ("workspace",)
    search_fields = ("workspace__name",)
    autocomplete_fields = ("workspace",)
    readonly_fields = ("signing_secret_state", "secret_rotated_at", "updated_at")
    change_form_template = "admin/destinations/workspacemonitoring/change_form.html"

    def get_fields(self, request, obj=None):
        fields = ("workspace", "check_interval_minutes", "notification_url")
        return fields if obj is None else (*fields, "signing_secret_state", "secret_rotated_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else ("workspace", *self.readonly_fields)

    @admin.display(description="Re-test interval")
    def interval(self, monitoring: WorkspaceMonitoring) -> str:
        minutes = monitoring.check_interval_minutes
        return "default" if minutes is None else ("off" if minutes == 0 else f"{minutes} min")

    @admin.display(description="Signing secret")
    def signing_secret_state(self, monitoring: WorkspaceMonitoring):
        if not monitoring.signing_secret.get("secret"):
            return "None yet: one is created with the first notification URL."
        return format_html(
            'Set; it is never shown again. <button type="submit" form="rotate-secret" class="button">{}</button>',
            "Rotate: show a new one",
        )

    def save_model(self, request, obj, form, change):
        monitoring, secret = workspace_monitoring_update(
            workspace=obj.workspace,
            check_interval_minutes=form.cleaned_data.get("check_interval_minutes"),
            notification_url=form.cleaned_data.get("notification_url", ""),
        )
        obj.__dict__.update(monitoring.__dict__)
        request._signing_secret_plaintext = secret

    def response_add(self, request, obj, post_url_continue=None):
        return self._secret_page(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._secret_page(request, obj) or super().response_change(request, obj)

    def _secret_page(self, request, obj):
        plaintext = getattr(request, "_signing_secret_plaintext", None)
        if plaintext is None:
            return None
        return _secret_response(self, request, obj, plaintext)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/rotate-secret/",
                self.admin_site.admin_view(self.rotate_secret),
                name="destinations_workspacemonitoring_rotate",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.signing_secret.get("secret"):
            context["rotate_url"] = reverse("admin:destinations_workspacemonitoring_rotate", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def rotate_secret(self, request, object_id):
        return _rotate_secret(request, self, object_id)


@require_POST
def _rotate_secret(request, model_admin, object_id):
    monitoring = model_admin.get_object(request, object_id)
    if monitoring is None:
        raise Http404("Not found.")
    if not model_admin.has_change_permission(request, monitoring):
        raise PermissionDenied
    plaintext = signing_secret_rotate(workspace=monitoring.workspace)
    return _secret_response(model_admin, request, monitoring, plaintext)


def _secret_response(model_admin, request, monitoring, plaintext: str) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Notification signing secret",
        "opts": model_admin.opts,
        "monitoring": monitoring,
        "plaintext": plaintext,
        "change_url": reverse("admin:destinations_workspacemonitoring_change", args=[monitoring.pk]),
    }
    response = TemplateResponse(request, SECRET_TEMPLATE, context)
    response["Cache-Control"] = "no-store"
    return response


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The notification log: every event sent (or being retried) to a workspace's notification URL."""

    list_display = (
        "created_at",
        "workspace",
        "event_type",
        "destination",
        "change",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("state", "event_type", "workspace")
    list_select_related = ("workspace", "destination")
    search_fields = ("destination__name", "workspace__name")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "workspace",
        "destination",
        "test_run",
        "event_type",
        "url",
        "state",
        "attempts",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
        "payload",
    )
    readonly_fields = fields

    @admin.display(description="Change")
    def change(self, notification: Notification) -> str:
        data = notification.payload.get("data", {})
        return f"{data.get('previous_status', '?')} → {data.get('status', '?')}"
