"""The destinations admin, with live connection tests.

Writes go through the services (`destination_create` / `destination_update` / `destination_delete`, the
connection ones likewise), once per save, so the admin keeps the API's rules: configs validate against the
type's schema with the same `config.<field>` errors (shown on the fields), secrets are never shown (left
blank, they keep their stored value), and a destination used by an active pipeline or sync cannot be deleted.
The config is edited in a form generated from the type's JSON Schema (`ConfigEditorField`); the type is chosen
before the add form, and changed only through the Change type page.
"""

from __future__ import annotations

import contextlib
import uuid
from functools import partial

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import NestedObjects
from django.db import router
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .. import services
from ..models import AuditVia, Connection, Destination, DestinationStatus, TestRun
from ..selectors import latest_failure
from .base import NEW_TYPE_PARAM, ServiceConfigForm, ServiceSaveMixin
from .dashboard import failures_dashboard
from .destination_pages import (
    change_type,
    connection_test_draft,
    connection_test_events,
    connection_test_run_page,
    connection_test_start,
    draft_test_events,
)
from .display import _run_result, _steps_summary, connector_or_none, status_badge, type_label, workspace_label
from .filters import RegisteredTypeFilter, WorkspaceFilter
from .jobs import test_selected_as_jobs
from .paging import BoundedListMixin

HISTORY_ROWS = 20


class DestinationForm(ServiceConfigForm):
    config_help = (
        "The settings of this destination type. Secrets show blank: leave them blank to keep the stored value. "
        "Fields the shared connection sets need not be repeated."
    )
    error_fields = {"connection_id": "connection", "name": "name", "destination_type": None}
    confirm_type_change = forms.BooleanField(
        required=False,
        help_text="The current config and its stored secrets are dropped; the status goes back to pending.",
    )

    class Meta:
        model = Destination
        fields = ["workspace", "name", "connection", "check_interval_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "connection" in self.fields:
            connections = Connection.objects.filter(destination_type=self.destination_type).select_related("workspace")
            if not self.instance._state.adding:
                connections = connections.filter(workspace_id=self.instance.workspace_id)
            self.fields["connection"].queryset = connections
            self.fields["connection"].label_from_instance = lambda c: f"{c.name} — {workspace_label(c.workspace)}"
        if self.retype:
            confirm = self.fields["confirm_type_change"]
            confirm.required = True
            confirm.label = f"Replace the config with this new {type_label(self.destination_type)} config"
        else:
            del self.fields["confirm_type_change"]

    def stored_config(self) -> dict:
        return self.instance.own_config()

    def service_call(self, cleaned: dict, config: dict):
        connection = cleaned.get("connection")
        connection_id = connection.pk if connection else None
        if self.instance._state.adding:
            return services.destination_create(
                via=AuditVia.ADMIN,
                workspace=cleaned["workspace"],
                actor=self.actor,
                name=cleaned["name"],
                destination_type=self.destination_type,
                config=config,
                connection_id=connection_id,
                check_interval_minutes=cleaned.get("check_interval_minutes"),
            )
        data = {
            "name": cleaned["name"],
            "connection_id": connection_id,
            "config": config,
            "check_interval_minutes": cleaned.get("check_interval_minutes"),
        }
        if self.retype:
            data["destination_type"] = self.destination_type
        return services.destination_update(destination=self.instance, actor=self.actor, via=AuditVia.ADMIN, data=data)


@admin.register(Destination)
class DestinationAdmin(BoundedListMixin, ServiceSaveMixin, admin.ModelAdmin):
    form = DestinationForm
    list_display = ("name", "type_column", "workspace_column", "status_column", "last_tested_at")
    list_filter = (RegisteredTypeFilter, "status", WorkspaceFilter)
    list_select_related = ("workspace",)
    search_fields = ("name",)
    search_help_text = "Search by name, or paste a destination id."
    ordering = ("-created_at",)
    actions = ("test_selected", "delete_selected")
    readonly_fields = (
        "id",
        "type_column",
        "workspace_column",
        "status_column",
        "status_error_column",
        "last_tested_at",
        "credentials_expire_at",
        "recent_tests",
        "test_before_saving",
        "created_by",
        "created_at",
        "updated_at",
    )
    change_form_template = "admin/destinations/destination/change_form.html"

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("workspace", "name", "connection", "config", "test_before_saving")})]
        main = ("id", "workspace_column", "name", "type_column", "connection", "config", "test_before_saving")
        if self.form_type(request, obj)[1]:
            main = (*main, "confirm_type_change")
        return [
            (None, {"fields": main}),
            (
                "Status",
                {
                    "fields": (
                        "status_column",
                        "status_error_column",
                        "last_tested_at",
                        "credentials_expire_at",
                        "check_interval_minutes",
                    )
                },
            ),
            ("Connection tests", {"fields": ("recent_tests",)}),
            ("History", {"fields": ("created_by", "created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def form_type(self, request, obj) -> tuple[str, bool]:
        new_type = request.GET.get(NEW_TYPE_PARAM, "")
        if obj is not None and new_type and new_type != obj.destination_type and connector_or_none(new_type):
            return new_type, True
        return super().form_type(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workspace", "connection", "created_by")

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        with contextlib.suppress(ValueError):
            results |= queryset.filter(pk=uuid.UUID(search_term.strip()))
        return results, may_have_duplicates

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if obj is not None:
            new_type, retype = self.form_type(request, obj)
            if retype:
                context["retype"] = {"from": type_label(obj.destination_type), "to": type_label(new_type)}
            context["draft_test_url"] = _with_query(
                request, reverse("admin:destinations_destination_test_draft", args=[obj.pk])
            )
        return super().change_view(request, object_id, form_url, context)

    def add_view(self, request, form_url="", extra_context=None):
        draft_url = _with_query(request, reverse("admin:destinations_destination_test_draft_new"))
        context = {**(extra_context or {}), "draft_test_url": draft_url}
        return super().add_view(request, form_url, context)

    @admin.display(description="Status", ordering="status")
    def status_column(self, destination: Destination):
        return status_badge(destination.status, destination.status_error)

    @admin.display(description="Type", ordering="destination_type")
    def type_column(self, destination: Destination) -> str:
        return type_label(destination.destination_type)

    @admin.display(description="Workspace", ordering="workspace__name")
    def workspace_column(self, destination: Destination) -> str:
        return workspace_label(destination.workspace)

    @admin.display(description="Status error")
    def status_error_column(self, destination: Destination):
        """The error, and what to do about it (the failed step's remediation from the latest test)."""
        if not destination.status_error:
            return "–"
        failure = latest_failure(destination) if destination.status == DestinationStatus.ERROR else None
        remediation = ((failure or {}).get("error") or {}).get("remediation", "")
        if not remediation:
            return destination.status_error
        return format_html(
            '{}<div class="remediation" id="remediation"><strong>What to do:</strong> {}</div>',
            destination.status_error,
            remediation,
        )

    @admin.display(description="Test before saving")
    def test_before_saving(self, destination: Destination):
        """The button and the panel its steps stream into (static/destinations/test_draft.js)."""
        stored = "" if destination._state.adding else " (secrets left blank use the stored ones)"
        return format_html(
            "<p>Runs the connection test with the values in this form{}. Nothing is saved and the status does not "
            'change.</p><button type="button" class="button" id="test-draft">Test before saving</button>'
            '<div id="draft-test" hidden><ul id="draft-errors" class="errorlist"></ul><ol id="draft-steps" '
            'class="steps"></ol><p id="draft-result" class="test-result" data-state="idle"></p></div>',
            stored,
        )

    @admin.display(description=f"Latest {HISTORY_ROWS}")
    def recent_tests(self, destination: Destination):
        runs = TestRun.objects.filter(destination=destination).select_related("actor")[:HISTORY_ROWS]
        if not runs:
            return "Not tested yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:destinations_testrun_change", args=[run.pk]),
                    run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    run.get_trigger_display(),
                    run.actor or "–",
                    _run_result(run),
                    f"{run.duration_ms} ms" if run.duration_ms is not None else "–",
                    _steps_summary(run.steps),
                )
                for run in runs
            ),
        )
        return format_html(
            '<table id="recent-tests"><thead><tr><th>Started</th><th>Trigger</th><th>By</th><th>Result</th>'
            "<th>Duration</th><th>Steps</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def service_delete(self, request, obj):
        services.destination_delete(destination=obj, actor=request.user, via=AuditVia.ADMIN)

    def get_deleted_objects(self, objs, request):
        """Django's confirmation data, with the blockers named plainly: active pipelines and syncs."""
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            protected = _blockers(objs)
        return to_delete, model_count, perms_needed, protected

    # --- connection tests, type changes, the failures dashboard -------------------------------------

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"

        def view(function, name, route):
            return path(route, self.admin_site.admin_view(partial(function, model_admin=self)), name=f"{info}_{name}")

        return [
            view(failures_dashboard, "dashboard", "dashboard/"),
            view(connection_test_draft, "test_draft_new", "test-draft/"),
            view(draft_test_events, "test_draft_events", "test-draft/<uuid:run_id>/events/"),
            view(connection_test_draft, "test_draft", "<uuid:object_id>/test-draft/"),
            view(change_type, "change_type", "<uuid:object_id>/change-type/"),
            view(connection_test_start, "test", "<uuid:object_id>/test/"),
            view(connection_test_run_page, "test_run", "<uuid:object_id>/test/<uuid:run_id>/"),
            view(connection_test_events, "test_events", "<uuid:object_id>/test/<uuid:run_id>/events/"),
            *super().get_urls(),
        ]

    @admin.action(permissions=["change"], description="Test selected destinations")
    def test_selected(self, request, queryset):
        """Runs as background jobs (one per workspace); answers with their live progress page."""
        return test_selected_as_jobs(self, request, queryset)


def _with_query(request, url: str) -> str:
    """`url` with this page's query (the type chosen, a type change under way): the form is read the same way."""
    query = request.GET.urlencode()
    return f"{url}?{query}" if query else url


def _blockers(objs) -> list:
    """Each active pipeline or sync that stops a delete (the model rule), linked and with what it uses."""
    collector = NestedObjects(using=router.db_for_write(Destination))
    collector.collect(list(objs))
    lines = []
    for obj in sorted(collector.protected, key=lambda o: (type(o).__name__, o.name)):
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
        lines.append(
            format_html(
                'Active {} <a href="{}">{}</a> uses destination “{}”',
                obj._meta.verbose_name,
                url,
                obj.name,
                obj.destination,
            )
        )
    return lines
