"""Admin for bulk-test jobs: the job list, the live progress page, and the "Test selected destinations" action."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from ..errors import TooBusy
from ..events.streams import job_events_response
from ..jobs.background import test_job_create, test_job_submit
from ..jobs.representation import RESULTS_PAGE, test_job_as_dict
from ..jobs.selection import destinations_by_workspace
from ..models import TestJob, TestJobItemState, TestRunTrigger
from .base import ReadOnlyAdmin

PROGRESS_TEMPLATE = "admin/destinations/testjob/progress.html"


@admin.register(TestJob)
class TestJobAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "workspace", "trigger", "actor", "state", "total", "progress_link")
    list_filter = ("state", "trigger", "workspace")
    list_select_related = ("workspace", "actor")
    fields = ("id", "workspace", "actor", "trigger", "selection", "state", "total", "created_at", "finished_at")
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress_link(self, job: TestJob):
        return format_html('<a href="{}">Live progress</a>', progress_url([job]))

    def get_urls(self):
        return [
            path("progress/", self.admin_site.admin_view(self.progress_page), name="destinations_testjob_progress"),
            path(
                "<uuid:job_id>/events/",
                self.admin_site.admin_view(self.progress_events),
                name="destinations_testjob_events",
            ),
            *super().get_urls(),
        ]

    def progress_page(self, request):
        return _progress_page(request, self)

    def progress_events(self, request, job_id):
        return _progress_events(request, self, job_id)


def progress_url(jobs_: list[TestJob]) -> str:
    return reverse("admin:destinations_testjob_progress") + "?" + "&".join(f"job={job.pk}" for job in jobs_)


@require_GET
def _progress_page(request, model_admin):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    found = TestJob.objects.filter(pk__in=_uuids(request.GET.getlist("job"))).select_related("workspace")
    blocks = []
    for job in found:
        # The latest results (the live events add the next ones): a page, not every item of a large job.
        finished = job.items.exclude(state=TestJobItemState.QUEUED).order_by("-finished_at", "-position")
        body = test_job_as_dict(job, results=list(finished[:RESULTS_PAGE]))
        blocks.append(
            {
                "job": job,
                "body": body,
                "finished": body["results"],
                "events_url": reverse("admin:destinations_testjob_events", args=[job.pk]),
            }
        )
    if not blocks:
        raise Http404("No such test job.")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Test selected destinations",
        "opts": model_admin.opts,
        "blocks": blocks,
        "destinations_url": reverse("admin:destinations_destination_changelist"),
    }
    return TemplateResponse(request, PROGRESS_TEMPLATE, context)


@require_GET
def _progress_events(request, model_admin, job_id):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    job = TestJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such test job.")
    return job_events_response(request, job)


def _uuids(values: list[str]) -> list:
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(value))
        except ValueError:
            continue
    return out


def test_selected_as_jobs(model_admin, request, queryset) -> HttpResponseRedirect | None:
    """The destinations action: one job per workspace among the selection, then their live progress page."""
    created, refused = [], False
    for workspace, ids in destinations_by_workspace(queryset):
        try:
            job = test_job_create(workspace=workspace, actor=request.user, trigger=TestRunTrigger.ADMIN, ids=ids)
        except TooBusy as exc:  # past the workspace's cap of jobs: the others still start
            model_admin.message_user(request, f"{workspace.name}: {exc.detail}", messages.ERROR)
            refused = True
            continue
        test_job_submit(job)
        created.append(job)
    if not created:
        if not refused:
            model_admin.message_user(request, "No destination selected.", messages.WARNING)
        return None
    return HttpResponseRedirect(progress_url(created), status=303)
