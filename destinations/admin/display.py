"""What the admin pages show of a row: status badges, step summaries, type and workspace labels."""

from __future__ import annotations

import re

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from connectors.runtime.base import Connector
from connectors.runtime.registry import UnknownConnectorType, get_connector_class

from ..models import DestinationStatus, TestRun

BADGE_COLOURS = {
    DestinationStatus.PENDING: "#6b7280",
    DestinationStatus.CONNECTED: "#15803d",
    DestinationStatus.ERROR: "#b91c1c",
}
STEP_ICONS = {"passed": "✓", "failed": "✗", "skipped": "–"}
# Connector texts are written for the API docs, in Markdown: `whsec_` is a code span.
CODE_SPAN = re.compile(r"`([^`]+)`")


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


def connector_or_none(destination_type: str) -> type[Connector] | None:
    """The type's connector; None for a type whose connector was removed (the admin still shows the row)."""
    try:
        return get_connector_class(destination_type)
    except UnknownConnectorType:
        return None


def type_label(destination_type: str) -> str:
    connector_cls = connector_or_none(destination_type)
    return connector_cls.label if connector_cls else f"{destination_type} (no connector)"


def workspace_label(workspace) -> str:
    """Workspaces may share a name: the id's first characters tell them apart."""
    return f"{workspace.name} ({str(workspace.pk)[:4]}…)"


def code_spans_as_html(text: str) -> SafeString:
    """Markdown code spans as <code>, the rest escaped: for the admin's pages."""
    parts = CODE_SPAN.split(text)
    return SafeString(
        "".join(
            format_html("<code>{}</code>", part) if i % 2 else format_html("{}", part) for i, part in enumerate(parts)
        )
    )


def code_spans_as_text(text: str) -> str:
    """Markdown code spans without their backticks: for widgets that show text as text."""
    return CODE_SPAN.sub(r"\1", text)
