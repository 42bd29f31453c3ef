"""The admin's connection-test pages: thin views over the same test service as the API.

`connection_test_start` (POST, CSRF) records a run with `connection_test_prepare(trigger="admin")`, hands it to the
worker pool with `connection_test_submit` and redirects to the run's page. That page follows the run live
with EventSource on `connection_test_events`, which re-attaches through the same path as the API
(`sse.run_events_response`): replayed from the start or after Last-Event-ID, then live.
A finished run is shown from its stored history.
Every view is staff-only (wrapped by `admin_site.admin_view`) and checks the model admin's permissions.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from connectors.registry import UnknownConnectorType, get_connector_class

from . import testing
from .errors import BackendUnavailable, InvalidInput
from .models import Destination, DestinationStatus, TestRun, TestRunTrigger
from .sse import run_events_response

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
            prepared = testing.connection_test_prepare(
                workspace=destination.workspace,
                actor=request.user,
                trigger=TestRunTrigger.ADMIN,
                destination=destination,
            )
        except InvalidInput as exc:
            model_admin.message_user(
                request, f"The stored config is not valid, so it cannot be tested: {exc}", messages.ERROR
            )
            return HttpResponseRedirect(_url("change", destination.pk))
        try:
            testing.connection_test_submit(prepared)
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
