"""Django admin for operators: destinations (with live connection tests), connections, pipelines, syncs.

Writes go through the services (`destination_create` / `destination_update` / `destination_delete`, the
connection ones likewise), so the admin keeps the API's rules: configs validate against the type's schema
with the same `config.<field>` errors, secrets are shown only as ******** (left as they are, or blank, they
keep their stored value), and a destination used by an active pipeline or sync cannot be deleted.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import NestedObjects, model_ngettext
from django.db import router, transaction
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from connectors.base import MASK, Connector
from connectors.registry import UnknownConnectorType, connector_classes, get_connector_class

from . import admin_checks, admin_views, services
from .config import mask_config
from .errors import Conflict, InvalidInput
from .models import (
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


def _connector(destination_type: str) -> type[Connector] | None:
    try:
        return get_connector_class(destination_type)
    except UnknownConnectorType:
        return None


def _masked(destination_type: str, config: dict) -> dict:
    connector_cls = _connector(destination_type)
    # A type whose connector was removed: show nothing that could be secret.
    return mask_config(connector_cls, config) if connector_cls else {}


# --- a JSON config field whose secrets never reach the page ---------------------------------------------


class ConfigJSONField(forms.JSONField):
    default_error_messages = {
        "invalid": "Enter valid JSON (an object). What you typed is not shown again, as it may contain secrets.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget",
            forms.Textarea(
                attrs={
                    "rows": 12,
                    "cols": 80,
                    "class": "vLargeTextField",
                    "style": "font-family:monospace",
                    "spellcheck": "false",
                }
            ),
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def _blank_keeps_stored(connector_cls: type[Connector], submitted: dict, stored: dict) -> dict:
    """A secret sent blank means "keep the stored value" (as ******** does); with nothing stored, not set."""
    out = dict(submitted)
    for name in connector_cls.secret_fields():
        value = out.get(name)
        if value == "":
            if name in stored:
                out[name] = MASK
            else:
                out.pop(name)
        elif isinstance(value, dict):
            kept = stored.get(name) if isinstance(stored.get(name), dict) else {}
            out[name] = {k: MASK if v == "" else v for k, v in value.items() if v != "" or k in kept}
    return out


def _as_full_document(submitted: dict, stored: dict) -> dict:
    """The form holds the whole config: a key removed from it is removed (the services merge key by key)."""
    return {**dict.fromkeys(k for k in stored if k not in submitted), **submitted}


def _typed_secrets(connector_classes_: list[type[Connector]], config: dict) -> tuple[dict, list[str]]:
    """`config` with every secret value that is not blank or ******** blanked, and the paths blanked."""
    secret_names = {name for cls in connector_classes_ for name in cls.secret_fields()}
    cleaned, paths = dict(config), []
    for name in sorted(secret_names & set(config)):
        value = config[name]
        if isinstance(value, dict):
            cleaned[name] = {k: "" if v not in ("", MASK) else v for k, v in value.items()}
            paths.extend(f"{name}.{k}" for k, v in value.items() if v not in ("", MASK))
        elif value not in (None, "", MASK):
            cleaned[name] = ""
            paths.append(name)
    return cleaned, paths


class _Rollback(Exception):
    pass


def _dry_run(call) -> None:
    """Run a service call and undo it: the service's own validation, nothing saved."""
    try:
        with transaction.atomic():
            call()
            raise _Rollback
    except _Rollback:
        pass


class ServiceConfigForm(forms.ModelForm):
    """A model form whose save is one service call, checked (and rolled back) while the form validates.

    Subclasses set `config_field` (the JSON field's name), `error_prefix` (the service's error path root)
    and `error_fields` (service error path -> form field), and implement `service_call()`.
    """

    config_field = "config_json"
    error_prefix = "config"
    error_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The stored type, before validation copies the submitted one onto the instance.
        self.stored_type = "" if self.instance._state.adding else self.instance.destination_type

    def stored_config(self) -> dict:
        raise NotImplementedError

    def current_type(self) -> str:
        return self.cleaned_data.get("destination_type") or self.stored_type

    def service_call(self, cleaned: dict, config: dict):
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        config = cleaned.get(self.config_field)
        if config in (None, ""):
            config = {}
        if not isinstance(config, dict):
            self.add_error(self.config_field, f"{self.error_prefix}: Must be a JSON object.")
            return cleaned
        connector_cls = _connector(self.current_type())
        if connector_cls is None:
            self.add_error(None, f"Unknown destination type {self.current_type()!r}.")
            return cleaned
        same_type = bool(self.stored_type) and self.current_type() == self.stored_type
        stored = self.stored_config() if same_type else {}
        config = _blank_keeps_stored(connector_cls, config, stored)
        if same_type:
            config = _as_full_document(config, stored)
        self.save_call = self.service_call(cleaned, config)
        try:
            _dry_run(partial(self.save_call, actor=None))
        except InvalidInput as exc:
            for error_path, messages_ in exc.errors.items():
                self.add_error(self._field_for(error_path), [f"{error_path}: {m}" for m in messages_])
        except Conflict as exc:
            self.add_error(None, exc.detail)
        return cleaned

    def _field_for(self, error_path: str) -> str | None:
        if error_path == self.error_prefix or error_path.startswith(self.error_prefix + "."):
            return self.config_field
        field = self.error_fields.get(error_path)
        return field if field in self.fields else None

    def full_clean(self):
        super().full_clean()
        if self.is_bound and self._errors:
            self._keep_secrets_off_the_page()

    def _keep_secrets_off_the_page(self):
        """Re-rendering the form after an error must not echo a secret just typed: blank it, and say so."""
        raw = self.data.get(self.add_prefix(self.config_field), "")
        try:
            submitted = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, AttributeError):
            submitted = None
        types = {self.data.get(self.add_prefix("destination_type")), self.stored_type}
        classes = [cls for cls in (_connector(t) for t in types if t) if cls is not None]
        data = self.data.copy()
        if not isinstance(submitted, dict):
            # Not a JSON object: it cannot be cleaned key by key, so show the stored (masked) config instead.
            data[self.add_prefix(self.config_field)] = ConfigJSONField().prepare_value(self.initial_config())
        else:
            cleaned, paths = _typed_secrets(classes, submitted)
            data[self.add_prefix(self.config_field)] = ConfigJSONField().prepare_value(cleaned)
            if paths:
                self._errors.setdefault(self.config_field, self.error_class()).append(
                    "Secret values are never shown again; type them again: " + ", ".join(paths) + "."
                )
        self.data = data

    def initial_config(self) -> dict:
        if not self.stored_type:
            return {}
        return _masked(self.stored_type, self.stored_config())


class DestinationForm(ServiceConfigForm):
    destination_type = forms.ChoiceField(label="Type")
    config_json = ConfigJSONField(
        label="Config",
        required=False,
        help_text="The type's config as JSON. Secrets show as ********: leave them (or blank them) to keep the "
        "stored value, type a new value to replace it, remove the key to remove it. Values from the shared "
        "connection need not be repeated.",
    )
    error_fields = {"destination_type": "destination_type", "connection_id": "connection", "name": "name"}

    class Meta:
        model = Destination
        fields = ["workspace", "name", "destination_type", "connection", "check_interval_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(name, f"{cls.label} ({name})") for name, cls in connector_classes().items()]
        if not self.instance._state.adding and self.instance.destination_type not in connector_classes():
            choices.append((self.instance.destination_type, f"{self.instance.destination_type} (no connector)"))
        self.fields["destination_type"].choices = choices
        if "connection" in self.fields and not self.instance._state.adding:
            self.fields["connection"].queryset = Connection.objects.filter(workspace_id=self.instance.workspace_id)
        if not self.is_bound:
            self.initial["config_json"] = self.initial_config()

    def stored_config(self) -> dict:
        return self.instance.own_config()

    def service_call(self, cleaned: dict, config: dict):
        connection = cleaned.get("connection")
        connection_id = connection.pk if connection else None
        if self.instance._state.adding:
            return partial(
                services.destination_create,
                workspace=cleaned["workspace"],
                name=cleaned["name"],
                destination_type=cleaned["destination_type"],
                config=config,
                connection_id=connection_id,
                check_interval_minutes=cleaned.get("check_interval_minutes"),
            )
        data = {
            "name": cleaned["name"],
            "destination_type": cleaned["destination_type"],
            "connection_id": connection_id,
            "config": config,
            "check_interval_minutes": cleaned.get("check_interval_minutes"),
        }
        return partial(_update_as, services.destination_update, "destination", self.instance, data)


class ConnectionForm(ServiceConfigForm):
    destination_type = forms.ChoiceField(label="Type")
    config_field = "credentials_json"
    error_prefix = "credentials"
    credentials_json = ConfigJSONField(
        label="Credentials",
        required=False,
        help_text="The credentials shared by this workspace's destinations of this type, as JSON. Secrets show as "
        "********: leave them (or blank them) to keep the stored value.",
    )
    error_fields = {"destination_type": "destination_type", "name": "name"}

    class Meta:
        model = Connection
        fields = ["workspace", "name", "destination_type"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "destination_type" in self.fields:
            self.fields["destination_type"].choices = [
                (name, f"{cls.label} ({name})") for name, cls in connector_classes().items()
            ]
        if not self.is_bound:
            self.initial["credentials_json"] = self.initial_config()

    def stored_config(self) -> dict:
        return dict(self.instance.credentials)

    def service_call(self, cleaned: dict, config: dict):
        if self.instance._state.adding:
            return partial(
                services.connection_create,
                workspace=cleaned["workspace"],
                name=cleaned["name"],
                destination_type=cleaned["destination_type"],
                credentials=config,
            )
        data = {"name": cleaned["name"], "credentials": config}
        return partial(_update_as, services.connection_update, "connection", self.instance, data)


def _update_as(service, argument: str, instance, data: dict, *, actor):
    return service(**{argument: instance}, actor=actor, data=data)


class ServiceSaveMixin:
    """save_model/delete through the services; the bulk delete action too."""

    delete_protected_hint = ""

    def service_delete(self, obj) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        saved = form.save_call(actor=request.user)
        # The admin goes on with `obj` (the log entry, the redirect): make it the saved row.
        obj.__dict__.update(saved.__dict__)

    def delete_model(self, request, obj):
        try:
            self.service_delete(obj)
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
                    self.service_delete(obj)
                deleted += 1
            except Conflict as exc:
                refused.append(f"{name}: {exc.detail}")
        return deleted, refused


# --- destinations -------------------------------------------------------------------------------------


class RecentRunsFormSet(BaseInlineFormSet):
    def get_queryset(self):
        return super().get_queryset()[:HISTORY_ROWS]


class TestRunInline(admin.TabularInline):
    """The destination's test history, newest first; read-only, steps summarised, no secrets."""

    model = TestRun
    fk_name = "destination"
    formset = RecentRunsFormSet
    verbose_name = "connection test"
    verbose_name_plural = f"Connection tests (latest {HISTORY_ROWS})"
    fields = ("started_at", "trigger", "actor", "result", "duration", "steps_summary")
    readonly_fields = fields
    ordering = ("-started_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Result")
    def result(self, run: TestRun):
        return _run_result(run)

    @admin.display(description="Duration")
    def duration(self, run: TestRun):
        return f"{run.duration_ms} ms" if run.duration_ms is not None else "–"

    @admin.display(description="Steps")
    def steps_summary(self, run: TestRun):
        return _steps_summary(run.steps)


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


@admin.register(Destination)
class DestinationAdmin(ServiceSaveMixin, admin.ModelAdmin):
    form = DestinationForm
    list_display = ("name", "destination_type", "workspace", "status_column", "last_tested_at")
    list_filter = ("destination_type", "status", "workspace")
    list_select_related = ("workspace",)
    search_fields = ("name",)
    search_help_text = "Search by name, or paste a destination id."
    ordering = ("-created_at",)
    inlines = (TestRunInline,)
    actions = ("test_selected", "delete_selected")
    readonly_fields = (
        "id",
        "status_column",
        "status_error",
        "last_tested_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    change_form_template = "admin/destinations/destination/change_form.html"

    def get_fieldsets(self, request, obj=None):
        main = ("workspace", "name", "destination_type", "connection", "config_json")
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": ("id", *main)}),
            ("Status", {"fields": ("status_column", "status_error", "last_tested_at", "check_interval_minutes")}),
            ("History", {"fields": ("created_by", "created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "workspace") if obj is not None else self.readonly_fields

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workspace", "connection", "created_by")

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        with contextlib.suppress(ValueError):
            results |= queryset.filter(pk=uuid.UUID(search_term.strip()))
        return results, may_have_duplicates

    @admin.display(description="Status", ordering="status")
    def status_column(self, destination: Destination):
        return status_badge(destination.status, destination.status_error)

    def service_delete(self, obj):
        services.destination_delete(destination=obj)

    def get_deleted_objects(self, objs, request):
        """Django's confirmation data, with the blockers named plainly: active pipelines and syncs."""
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            protected = _blockers(objs)
        return to_delete, model_count, perms_needed, protected

    # --- connection tests ---------------------------------------------------------------------------

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<uuid:object_id>/test/", self.admin_site.admin_view(self.connection_test_start), name=f"{info}_test"),
            path(
                "<uuid:object_id>/test/<uuid:run_id>/",
                self.admin_site.admin_view(self.connection_test_run_page),
                name=f"{info}_test_run",
            ),
            path(
                "<uuid:object_id>/test/<uuid:run_id>/events/",
                self.admin_site.admin_view(self.connection_test_events),
                name=f"{info}_test_events",
            ),
            *super().get_urls(),
        ]

    def connection_test_start(self, request, object_id):
        return admin_views.connection_test_start(request, self, object_id)

    def connection_test_run_page(self, request, object_id, run_id):
        return admin_views.connection_test_run_page(request, self, object_id, run_id)

    def connection_test_events(self, request, object_id, run_id):
        return admin_views.connection_test_events(request, self, object_id, run_id)

    @admin.action(permissions=["change"], description="Test selected destinations")
    def test_selected(self, request, queryset):
        """Runs as background jobs (one per workspace); answers with their live progress page."""
        return admin_checks.test_selected_as_jobs(self, request, queryset)


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
class ConnectionAdmin(ServiceSaveMixin, admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("name", "destination_type", "workspace", "destinations_count", "created_at")
    list_filter = ("destination_type", "workspace")
    list_select_related = ("workspace",)
    search_fields = ("name",)
    readonly_fields = ("id", "created_by", "created_at", "updated_at")
    actions = ("delete_selected",)

    def get_fieldsets(self, request, obj=None):
        main = ("workspace", "name", "destination_type", "credentials_json")
        if obj is None:
            return [(None, {"fields": main})]
        return [(None, {"fields": ("id", *main)}), ("History", {"fields": ("created_by", "created_at", "updated_at")})]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "workspace", "destination_type")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(destinations_total=Count("destinations"))

    @admin.display(description="Destinations", ordering="destinations_total")
    def destinations_count(self, connection: Connection) -> int:
        return connection.destinations_total

    def service_delete(self, obj):
        services.connection_delete(connection=obj)


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
    list_filter = ("trigger", "success", "destination_type")
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
