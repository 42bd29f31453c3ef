"""Read-only history: test runs and the audit log."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from ..models import AuditEvent, TestRun
from .display import STEP_ICONS, _run_result
from .filters import RegisteredTypeFilter
from .paging import BoundedListMixin


@admin.register(TestRun)
class TestRunAdmin(BoundedListMixin, admin.ModelAdmin):
    list_display = ("started_at", "destination", "destination_type", "workspace", "trigger", "result", "duration_ms")
    list_filter = ("trigger", "success", RegisteredTypeFilter)
    list_select_related = ("destination", "workspace")
    # No date_hierarchy: its year/month links are a DISTINCT over every run's date.
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
        "unproven_list",
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

    @admin.display(description="Not proven before the first sync")
    def unproven_list(self, run: TestRun):
        """What a green run could not prove: the privilege, why, and where the customer grants it."""
        if not run.unproven:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong> ({} step): {}{}</li>",
                (
                    (u["privilege"], u["step"], u["reason"], f" Grant it in {u['grant']}." if u.get("grant") else "")
                    for u in run.unproven
                ),
            ),
        )


# --- audit history (read-only) ----------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(BoundedListMixin, admin.ModelAdmin):
    """Who changed what, through what; names of fields only (the values were never recorded)."""

    list_display = ("created_at", "action", "target_type", "target_name", "workspace", "actor_label", "via", "changed")
    list_filter = ("action", "via", "target_type")
    list_select_related = ("workspace",)
    search_fields = ("target_name", "actor_label", "=target_id")
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
