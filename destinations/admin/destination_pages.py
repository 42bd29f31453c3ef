"""The admin's own pages: connection tests, test before saving, the type chooser and the failures dashboard.

Thin views over the same services as the API.

`connection_test_start` (POST, CSRF) records a run with `connection_test_prepare(trigger="admin")`, hands it to the
worker pool with `connection_test_submit` and redirects to the run's page. That page follows the run live
with EventSource on `connection_test_events`, which re-attaches through the same path as the API
(`run_events_response`): replayed from the start or after Last-Event-ID, then live.
A finished run is shown from its stored history.
`connection_test_draft` tests what a form holds, unsaved (blank secrets keep the stored ones, through the
config module's merge), as a run without a destination, followed the same way on `draft_test_events`.
Every view is staff-only (wrapped by `admin_site.admin_view`) and checks the model admin's permissions.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.runtime.registry import UnknownConnectorType, connector_classes, get_connector_class

from ..config import effective_config, merge_config
from ..errors import BackendUnavailable, InvalidInput, stored_config_invalid
from ..events.streams import run_events_response
from ..models import Destination, DestinationStatus, TestRun, TestRunTrigger
from ..runs.runtime import connection_test_submit
from ..runs.service import connection_test_prepare
from .config_editor import field_title, submitted_config
from .display import code_spans_as_html, type_label

TEMPLATE = "admin/destinations/destination/test_connection.html"


def _destination(model_admin, request, object_id, *, change: bool) -> Destination:
    destination = model_admin.get_object(request, str(object_id))
    if destination is None:
        raise Http404("Destination not found.")
    allowed = (
        model_admin.has_change_permission(request, destination)
        if change
        else model_admin.has_view_or_change_permission(request, destination)
    )
    if not allowed:
        raise PermissionDenied
    return destination


def _run(destination: Destination, run_id) -> TestRun:
    run = TestRun.objects.filter(pk=run_id, destination=destination).select_related("actor").first()
    if run is None:
        raise Http404("Test run not found.")
    return run


def _url(name: str, *args) -> str:
    return reverse(f"admin:destinations_destination_{name}", args=[str(a) for a in args])


@require_http_methods(["GET", "HEAD", "POST"])
def connection_test_start(request, model_admin, object_id):
    """GET: the page with its Run button. POST: start a run and go to its live page."""
    destination = _destination(model_admin, request, object_id, change=request.method == "POST")
    if request.method == "POST":
        try:
            prepared = connection_test_prepare(
                workspace=destination.workspace,
                actor=request.user,
                trigger=TestRunTrigger.ADMIN,
                destination=destination,
            )
        except InvalidInput as exc:
            message = stored_config_invalid(exc, consequence="it cannot be tested")
            model_admin.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(_url("change", destination.pk))
        try:
            connection_test_submit(prepared)
        except BackendUnavailable as exc:
            model_admin.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(_url("test", destination.pk))
        return HttpResponseRedirect(_url("test_run", destination.pk, prepared.test_run.pk), status=303)
    return _page(model_admin, request, destination, None)


@require_GET
def connection_test_run_page(request, model_admin, object_id, run_id):
    destination = _destination(model_admin, request, object_id, change=False)
    return _page(model_admin, request, destination, _run(destination, run_id))


@require_GET
def connection_test_events(request, model_admin, object_id, run_id):
    """The run's events as SSE; EventSource resumes after Last-Event-ID when it reconnects."""
    destination = _destination(model_admin, request, object_id, change=False)
    return run_events_response(request, _run(destination, run_id))


def _page(model_admin, request, destination: Destination, run: TestRun | None) -> TemplateResponse:
    try:
        planned = [step.as_dict() for step in get_connector_class(destination.destination_type).steps]
    except UnknownConnectorType:
        planned = []
    finished = run is not None and run.finished_at is not None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Test connection",
        "subtitle": str(destination),
        "opts": model_admin.opts,
        "original": destination,
        "destination": destination,
        "status_labels": dict(DestinationStatus.choices),
        "planned_steps": planned,
        "run": run,
        "run_finished": finished,
        "steps": run.steps if finished else [],
        "can_run": model_admin.has_change_permission(request, destination),
        "start_url": _url("test", destination.pk),
        "change_url": _url("change", destination.pk),
        "events_url": _url("test_events", destination.pk, run.pk) if run is not None and not finished else "",
        "recent_runs": TestRun.objects.filter(destination=destination).order_by("-started_at")[:5],
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


# --- choosing a type, changing it --------------------------------------------------------------------


def _context(model_admin, request, **extra) -> dict:
    request.current_app = model_admin.admin_site.name
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, **extra}


def _types(exclude: str = "") -> list[dict]:
    return sorted(
        (
            {
                "type": name,
                "label": cls.label,
                "auth_method": cls.auth_method,
                "description": code_spans_as_html(cls.config_schema.get("description", "")),
            }
            for name, cls in connector_classes().items()
            if name != exclude
        ),
        key=lambda t: t["label"].lower(),
    )


def choose_type(request, model_admin) -> TemplateResponse:
    """The add page's first step: each type with what it needs; choosing one opens its form."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    kept = {k: v for k, v in request.GET.items() if k != "destination_type"}
    types = [{**t, "url": "?" + urlencode({**kept, "destination_type": t["type"]})} for t in _types()]
    title = f"Add {model_admin.opts.verbose_name}: choose its type"
    return TemplateResponse(
        request, "admin/destinations/choose_type.html", _context(model_admin, request, title=title, types=types)
    )


@require_GET
def change_type(request, model_admin, object_id) -> TemplateResponse:
    """A deliberate step: pick the new type; its change page then asks for a fresh config and a confirmation."""
    destination = _destination(model_admin, request, object_id, change=True)
    context = _context(
        model_admin,
        request,
        title="Change type",
        subtitle=str(destination),
        original=destination,
        destination=destination,
        current_label=type_label(destination.destination_type),
        types=_types(exclude=destination.destination_type),
        change_url=_url("change", destination.pk),
    )
    return TemplateResponse(request, "admin/destinations/destination/change_type.html", context)


# --- test before saving ------------------------------------------------------------------------------


def _error_list(errors: dict[str, list[str]], connector_cls) -> list[dict]:
    """Errors with the label the form shows for their field."""
    properties = connector_cls.config_schema.get("properties", {}) if connector_cls else {}
    listed = []
    for error_path, messages_ in errors.items():
        parts = error_path.split(".")
        if parts[0] == "config" and len(parts) > 1:
            label = field_title(parts[1], properties.get(parts[1], {}))
            label = ".".join([label, *parts[2:]])
        else:
            label = {"connection_id": "Connection"}.get(error_path, error_path.replace("_", " ").capitalize())
        listed.extend({"path": error_path, "field": label, "message": m} for m in messages_)
    return listed


def _clean(form, name: str):
    try:
        return form.fields[name].clean(form[name].data)
    except forms.ValidationError as exc:
        raise InvalidInput({name: exc.messages}) from None


@require_POST
def connection_test_draft(request, model_admin, object_id=None) -> JsonResponse:
    """Test the form's current values, saving nothing: a change page's blank secrets keep the stored ones.

    The run has no destination, so neither the status nor a rotated secret of the stored one is touched.

    Answers 202 with the run's events URL (followed like the live test page), or 400 with the errors.
    """
    destination = _destination(model_admin, request, object_id, change=True) if object_id else None
    if destination is None and not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = model_admin.get_form(request, destination, change=destination is not None)(
        request.POST, instance=destination
    )
    try:
        if form.connector_cls is None:
            raise InvalidInput({"destination_type": ["Choose a destination type first."]})
        config = submitted_config(form.connector_cls, _clean(form, "config"), form.stored)
        connection = _clean(form, "connection")
        if destination is None:
            workspace = _clean(form, "workspace")
        else:
            workspace = destination.workspace
            if not form.retype:
                # The config module's rules: blank/******** keeps a stored secret, unless a credential host moved
                # (then each such secret is named, to be typed again, with every other invalid field).
                config = merge_config(form.connector_cls, destination.own_config(), config)
                effective_config(form.connector_cls, config, connection.credentials if connection else None)
                config = dict(config)
        prepared = connection_test_prepare(
            workspace=workspace,
            actor=request.user,
            trigger=TestRunTrigger.ADMIN,
            destination_type=form.destination_type,
            config=config,
            connection_id=connection.pk if connection else None,
        )
    except InvalidInput as exc:
        return JsonResponse({"errors": _error_list(exc.errors, form.connector_cls)}, status=400)
    try:
        connection_test_submit(prepared)
    except BackendUnavailable as exc:
        response = JsonResponse({"errors": [exc.detail]}, status=503)
        response["Retry-After"] = str(exc.retry_after)
        return response
    run = prepared.test_run
    return JsonResponse(
        {"test_run_id": str(run.pk), "events_url": _url("test_draft_events", run.pk)},
        status=202,
    )


@require_GET
def draft_test_events(request, model_admin, run_id):
    """A test-before-saving run's events as SSE, for the staff user who started it."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    run = TestRun.objects.filter(
        pk=run_id, destination__isnull=True, trigger=TestRunTrigger.ADMIN, actor=request.user
    ).first()
    if run is None:
        raise Http404("Test run not found.")
    return run_events_response(request, run)
