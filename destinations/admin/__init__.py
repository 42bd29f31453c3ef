"""Django admin for operators: destinations (with live connection tests), connections, pipelines, syncs.

Writes go through the services (`destination_create` / `destination_update` / `destination_delete`, the
connection ones likewise), once per save, so the admin keeps the API's rules: configs validate against the
type's schema with the same `config.<field>` errors (shown on the fields), secrets are never shown (left
blank, they keep their stored value), and a destination used by an active pipeline or sync cannot be deleted.
The config is edited in a form generated from the type's JSON Schema (admin_config.py); the type is chosen
before the add form, and changed only through the Change type page.
"""

from __future__ import annotations

import contextlib
import uuid
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import NestedObjects, model_ngettext
from django.db import router, transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .. import admin_checks, admin_views, services
from ..admin_config import (
    ConfigEditorField,
    connector_or_none,
    submitted_config,
    type_label,
    typed_secrets,
    workspace_label,
)
from .connection_oauth import OAuthConnectionAdminMixin
from ..errors import Conflict, InvalidInput
from ..models import (
    AuditEvent,
    AuditVia,
    Connection,
    Destination,
    DestinationStatus,
    ReverseETLPipeline,
    Sync,
    TestRun,
)

BADGE_COLOURS = {
    DestinationStatus.PENDING: "#6b7280",
    DestinationStatus.CONNECTED: "#15803d",
    DestinationStatus.ERROR: "#b91c1c",
}
STEP_ICONS = {"passed": "✓", "failed": "✗", "skipped": "–"}
HISTORY_ROWS = 20
TYPE_PARAM = "destination_type"  # the add page's type, chosen first
NEW_TYPE_PARAM = "new_type"  # the change page with a type change under way


def status_badge(status: str, error: str = ""):
    label = dict(DestinationStatus.choices).get(status, status)
    return format_html(
        '<span class="status-badge status-{}" title="{}" style="display:inline-block;padding:2px 8px;'
        'border-radius:10px;color:#fff;font-weight:600;font-size:11px;background:{}">{}</span>',
        status,
        error,
        BADGE_COLOURS.get(status, "#6b7280"),
        label,
    )


# --- the config editor and the one service call -------------------------------------------------------


class ServiceConfigForm(forms.ModelForm):
    """A model form for something with a type's config, saved by ONE service call once the form is valid.

    The model admin makes a subclass per request naming `destination_type` (and `retype` when the type is
    being changed). The call runs in `_post_clean`, inside the admin's transaction, so what the service
    refuses (`config.<field>` paths and the rest) lands on the form's fields; `save()` returns the saved row.
    Subclasses set `config_field`, `error_prefix`, `error_fields` and implement `stored_config` and `service_call`.
    """

    config_field = "config"
    config_label = "Config"
    config_help = ""
    error_prefix = "config"
    error_fields: dict[str, str] = {}
    destination_type = ""
    retype = False
    actor = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connector_cls = connector_or_none(self.destination_type)
        adding = self.instance._state.adding
        self.stored = {} if adding or self.retype else self.stored_config()
        self.fields[self.config_field] = ConfigEditorField(
            label=self.config_label, connector_cls=self.connector_cls, stored=self.stored, help_text=self.config_help
        )
        if "workspace" in self.fields:
            self.fields["workspace"].label_from_instance = workspace_label
        if not self.is_bound:
            self.initial[self.config_field] = self.stored
        self.saved = None

    def stored_config(self) -> dict:
        raise NotImplementedError

    def service_call(self, cleaned: dict, config: dict):
        raise NotImplementedError

    def submitted(self) -> dict:
        """What the editor sent, in the services' terms (blank secret: keep the stored one)."""
        return submitted_config(self.connector_cls, self.cleaned_data.get(self.config_field) or {}, self.stored)

    def _post_clean(self):
        super()._post_clean()
        if not self._errors:
            if self.connector_cls is None:
                self.add_error(None, f"Unknown destination type {self.destination_type!r}.")
            else:
                try:
                    self.saved = self.service_call(self.cleaned_data, self.submitted())
                except InvalidInput as exc:
                    self.add_service_errors(exc.errors)
                except Conflict as exc:
                    self.add_error(None, exc.detail)
        if self._errors and self.is_bound:
            self._name_secrets_to_retype()

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        self.fields[self.config_field].widget.set_errors(errors, self.error_prefix)
        for error_path, messages_ in errors.items():
            self.add_error(self._field_for(error_path), [f"{error_path}: {m}" for m in messages_])

    def _field_for(self, error_path: str) -> str | None:
        if error_path == self.error_prefix or error_path.startswith(self.error_prefix + "."):
            return self.config_field
        field = self.error_fields.get(error_path)
        return field if field in self.fields else None

    def _name_secrets_to_retype(self) -> None:
        """The page shows secrets blank, so one just typed into a refused form is gone: say which to type again."""
        if self.connector_cls is None:
            return
        try:
            sent = self.fields[self.config_field].to_python(self.data.get(self.add_prefix(self.config_field)))
        except forms.ValidationError:
            return
        paths = typed_secrets(self.connector_cls, sent)
        if paths:
            self._errors.setdefault(self.config_field, self.error_class()).append(
                "Secret values are never shown again; type them again: " + ", ".join(paths) + "."
            )

    def save(self, commit=True):
        return self.saved

    def save_m2m(self):
        """Nothing more to save: the service call saved everything."""


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


class ServiceSaveMixin:
    """save_model/delete through the services; the bulk delete action too."""

    delete_protected_hint = ""

    def service_delete(self, request, obj) -> None:
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The form for this request's type; its validation ends with the one service call, as `request.user`."""
        form = super().get_form(request, obj, change=change, **kwargs)
        destination_type, retype = self.form_type(request, obj)
        attrs = {"destination_type": destination_type, "retype": retype, "actor": request.user}
        return type(form.__name__, (form,), attrs)

    def form_type(self, request, obj) -> tuple[str, bool]:
        """(type, changing type?): the stored type, or on the add page the one chosen first."""
        if obj is None:
            return request.GET.get(TYPE_PARAM, ""), False
        return obj.destination_type, False

    def add_view(self, request, form_url="", extra_context=None):
        """The type is chosen first (its own page); then the add form shows that type's settings."""
        if connector_or_none(request.GET.get(TYPE_PARAM, "")) is None:
            return admin_views.choose_type(request, self)
        context = {**(extra_context or {}), "chosen_type": type_label(request.GET[TYPE_PARAM])}
        return super().add_view(request, form_url, context)

    def save_model(self, request, obj, form, change):
        """Saved already: by the service call that ended the form's validation (`obj` is that row)."""

    def delete_model(self, request, obj):
        try:
            self.service_delete(request, obj)
        except Conflict as exc:  # something started using it since the confirmation page
            request._service_delete_refused = exc.detail

    def response_delete(self, request, obj_display, obj_id):
        refused = getattr(request, "_service_delete_refused", None)
        if refused:
            self.message_user(request, refused, messages.ERROR)
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj_id])
            )
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request, queryset):
        self._delete_each(request, queryset)

    @admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
    def delete_selected(self, request, queryset):
        """Django's confirmation page; once confirmed, each object is deleted through the service."""
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        deleted, refused = self._delete_each(request, queryset)
        if deleted:
            self.message_user(request, f"Deleted {deleted} {model_ngettext(self.opts, deleted)}.", messages.SUCCESS)
        for detail in refused:
            self.message_user(request, detail, messages.ERROR)
        return None

    def _delete_each(self, request, queryset) -> tuple[int, list[str]]:
        deleted, refused = 0, []
        for obj in list(queryset):
            name = str(obj)
            try:
                with transaction.atomic():
                    self.log_deletions(request, [obj])
                    self.service_delete(request, obj)
                deleted += 1
            except Conflict as exc:
                refused.append(f"{name}: {exc.detail}")
        return deleted, refused


# --- destinations -------------------------------------------------------------------------------------


def _run_result(run: TestRun):
    if run.success is None:
        return status_badge(DestinationStatus.PENDING) if run.finished_at is None else "–"
    return status_badge(DestinationStatus.CONNECTED if run.success else DestinationStatus.ERROR)


def _steps_summary(steps: list[dict]):
    if not steps:
        return "–"
    return format_html_join(
        " · ",
        '<span title="{}">{} {}{}</span>',
        (
            (
                step.get("message", ""),
                STEP_ICONS.get(step.get("status"), "?"),
                step.get("name", "?"),
                f" ({(step.get('error') or {}).get('code')})" if step.get("status") == "failed" else "",
            )
            for step in steps
        ),
    )


class TypeFilter(admin.SimpleListFilter):
    """By type, with the types' labels ("Salesforce"), not their keys."""

    title = "type"
    parameter_name = "destination_type__exact"

    def lookups(self, request, model_admin):
        used = set(model_admin.get_queryset(request).values_list("destination_type", flat=True).distinct())
        return sorted(((t, type_label(t)) for t in used), key=lambda choice: choice[1].lower())

    def queryset(self, request, queryset):
        return queryset.filter(destination_type=self.value()) if self.value() else queryset


class WorkspaceFilter(admin.SimpleListFilter):
    """By workspace; same-named workspaces are told apart by their id prefix."""

    title = "workspace"
    parameter_name = "workspace__id__exact"

    def lookups(self, request, model_admin):
        from workspaces.models import Workspace

        used = model_admin.get_queryset(request).values("workspace_id")
        return [(str(w.pk), workspace_label(w)) for w in Workspace.objects.filter(pk__in=used).order_by("name", "pk")]

    def queryset(self, request, queryset):
        return queryset.filter(workspace_id=self.value()) if self.value() else queryset


def latest_failure(destination: Destination) -> dict | None:
    """The failed step of the destination's latest finished test, if that test failed."""
    run = (
        TestRun.objects.filter(destination=destination, finished_at__isnull=False)
        .only("steps", "success")
        .order_by("-started_at")
        .first()
    )
    return run.failed_step if run is not None and run.success is False else None


@admin.register(Destination)
class DestinationAdmin(ServiceSaveMixin, admin.ModelAdmin):
    form = DestinationForm
    list_display = ("name", "type_column", "workspace_column", "status_column", "last_tested_at")
    list_filter = (TypeFilter, "status", WorkspaceFilter)
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
                {"fields": ("status_column", "status_error_column", "last_tested_at", "check_interval_minutes")},
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
            view(admin_views.failures_dashboard, "dashboard", "dashboard/"),
            view(admin_views.connection_test_draft, "test_draft_new", "test-draft/"),
            view(admin_views.draft_test_events, "test_draft_events", "test-draft/<uuid:run_id>/events/"),
            view(admin_views.connection_test_draft, "test_draft", "<uuid:object_id>/test-draft/"),
            view(admin_views.change_type, "change_type", "<uuid:object_id>/change-type/"),
            view(admin_views.connection_test_start, "test", "<uuid:object_id>/test/"),
            view(admin_views.connection_test_run_page, "test_run", "<uuid:object_id>/test/<uuid:run_id>/"),
            view(admin_views.connection_test_events, "test_events", "<uuid:object_id>/test/<uuid:run_id>/events/"),
            *super().get_urls(),
        ]

    @admin.action(permissions=["change"], description="Test selected destinations")
    def test_selected(self, request, queryset):
        """Runs as background jobs (one per workspace); answers with their live progress page."""
        return admin_checks.test_selected_as_jobs(self, request, queryset)


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


# --- connections -----------------------------------------------------------------------------------


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


# --- pipelines and syncs --------------------------------------------------------------------------


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


# --- test runs (read-only) ------------------------------------------------------------------------


@admin.register(TestRun)
class TestRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "destination", "destination_type", "workspace", "trigger", "result", "duration_ms")
    list_filter = ("trigger", "success", TypeFilter)
    list_select_related = ("destination", "workspace")
    date_hierarchy = "started_at"
    fields = (
        "id",
        "workspace",
        "destination",
        "destination_type",
        "actor",
        "trigger",
        "started_at",
        "finished_at",
        "result",
        "duration_ms",
        "steps_table",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Result", ordering="success")
    def result(self, run: TestRun):
        return _run_result(run)

    @admin.display(description="Steps")
    def steps_table(self, run: TestRun):
        if not run.steps:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td>{} {}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    STEP_ICONS.get(step.get("status"), "?"),
                    step.get("name", ""),
                    step.get("status", ""),
                    step.get("duration_ms", ""),
                    step.get("message", ""),
                    (step.get("error") or {}).get("code", ""),
                )
                for step in run.steps
            ),
        )
        return format_html(
            "<table><thead><tr><th>Step</th><th>Status</th><th>Time</th><th>Message</th><th>Error</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )


# --- audit history (read-only) ----------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Who changed what, through what; names of fields only (the values were never recorded)."""

    list_display = ("created_at", "action", "target_type", "target_name", "workspace", "actor_label", "via", "changed")
    list_filter = ("action", "via", "target_type")
    list_select_related = ("workspace",)
    search_fields = ("target_name", "actor_label", "=target_id")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "workspace",
        "actor",
        "actor_label",
        "via",
        "action",
        "target_type",
        "target_id",
        "target_name",
        "changed_fields",
        "secret_fields",
        "details",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Fields changed")
    def changed(self, event: AuditEvent) -> str:
        return ", ".join(event.changed_fields) or "–"
