"""Bulk-test jobs over the API: create (202), progress and per-destination results, progress as SSE."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from workspaces.throttling import VENDOR_CALL_THROTTLES

from .. import selectors
from ..events.streams import job_events_response
from ..jobs.background import API_FIELDS, test_job_create, test_job_submit
from ..jobs.representation import RESULTS_MAX, RESULTS_PAGE, test_job_as_dict
from ..jobs.selection import DEFAULT_CONCURRENCY
from ..models import DestinationStatus, TestJobState, TestRunTrigger
from . import listing
from .base import JSONErrorsNegotiation, WorkspaceScopedView
from .docs import ERRORS, WORKSPACE_HEADER_PARAM
from .serializers import ErrorSerializer, StrictInputSerializer

MAX_CONCURRENCY = 64


class TestJobCreateSerializer(StrictInputSerializer):
    """The `test_destinations` command's selectors; the criteria combine with AND, each value list with OR."""

    types = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=DestinationStatus.choices), required=False, default=list
    )
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
    all = serializers.BooleanField(required=False, default=False, help_text="Every destination of the workspace.")
    concurrency = serializers.IntegerField(
        min_value=1, max_value=MAX_CONCURRENCY, required=False, default=DEFAULT_CONCURRENCY
    )


class TestJobResultSerializer(serializers.Serializer):
    destination_id = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()
    destination_type = serializers.CharField()
    state = serializers.ChoiceField(choices=["queued", "passed", "failed", "missing"])
    failed_step = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    test_run_id = serializers.UUIDField(allow_null=True)


class TestJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=TestJobState.choices)
    trigger = serializers.CharField()
    selection = serializers.DictField()
    concurrency = serializers.IntegerField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    missing = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    results = TestJobResultSerializer(many=True)


JOB_SSE_DESCRIPTION = (
    "A `text/event-stream` of the job's progress: one `result` event per destination as it finishes "
    "(`job_id`, `total`, `done`, `passed`, `failed`, `missing`, `result`), then one `done` event (the job "
    "without its results). Ids are `testjob-<job>:<n>`; reconnect with `Last-Event-ID` to get the rest."
)


def _job_location(request, workspace_id, job_id) -> str:
    return request.build_absolute_uri(f"/api/v1/workspaces/{workspace_id}/destinations/test-jobs/{job_id}")


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestJobListView(WorkspaceScopedView):
    @extend_schema(
        operation_id="test_jobs_create",
        summary="Test many destinations in the background; answers 202 with the job",
        description=f"`results` holds the first {RESULTS_PAGE} destinations (all queued); the job's URL "
        "(`Location`) pages through the rest.",
        request=TestJobCreateSerializer,
        responses={
            202: TestJobSerializer,
            **ERRORS,
            429: OpenApiResponse(
                ErrorSerializer,
                description="The workspace has TEST_JOBS_PER_WORKSPACE jobs queued or running, or the job's "
                "destinations exceed the vendor calls left to this token or address; `Retry-After` says when to retry.",
            ),
        },
    )
    def post(self, request, workspace_id):
        serializer = TestJobCreateSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():  # a job refused by the vendor-call budget is not kept
            job = test_job_create(
                workspace=self.workspace,
                actor=request.user,
                trigger=TestRunTrigger.API,
                types=data["types"],
                statuses=data["statuses"],
                ids=data["ids"],
                select_all=data["all"],
                concurrency=data["concurrency"],
                field_names=API_FIELDS,
            )
            self._charge_vendor_calls(request, job.total)
        test_job_submit(job)
        first = list(job.items.order_by("position")[:RESULTS_PAGE])
        return Response(
            TestJobSerializer(test_job_as_dict(job, results=first)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": _job_location(request, workspace_id, job.pk)},
        )

    def _charge_vendor_calls(self, request, calls: int) -> None:
        """A job calls a vendor once per destination: it counts that many against the token's and the address's
        vendor-call budgets (API_RATE_LIMITS), as that many single tests would."""
        for throttle_class in VENDOR_CALL_THROTTLES:
            wait = throttle_class().charge(request, self, calls)
            if wait is not None:
                raise exceptions.Throttled(
                    wait=wait,
                    detail=f"This job would test {calls} destinations, more than the vendor calls left for this "
                    f"token or address ({throttle_class.scope}). Try again later, or test fewer destinations at once.",
                )


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestJobDetailView(WorkspaceScopedView):
    @extend_schema(
        operation_id="test_jobs_retrieve",
        summary="A job's progress and a page of its results, in the order of its destinations",
        description=f"`results` holds {RESULTS_PAGE} destinations' results unless `limit` says otherwise; the next "
        'page\'s URL is in the `Link` header (`<…>; rel="next"`). The counts cover the whole job.',
        parameters=listing.paging_parameters(default_limit=RESULTS_PAGE, max_limit=RESULTS_MAX),
        responses={200: TestJobSerializer, **ERRORS},
    )
    def get(self, request, workspace_id, job_id):
        listing.refuse_unknown_params(request.query_params, ["limit", "cursor"])
        job = selectors.test_job_get(workspace=self.workspace, job_id=job_id)
        pagination = listing.KeysetPagination(
            ordering=("position",), listing="job-results", default_limit=RESULTS_PAGE, max_limit=RESULTS_MAX
        )
        results = pagination.page(job.items.all(), request)
        return Response(
            TestJobSerializer(test_job_as_dict(job, results=results)).data, headers=pagination.link_headers()
        )


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestJobEventsView(WorkspaceScopedView):
    content_negotiation_class = JSONErrorsNegotiation

    @extend_schema(
        operation_id="test_jobs_events",
        summary="A job's progress as Server-Sent Events, replayed from the start (or after Last-Event-ID)",
        parameters=[OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, required=False)],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description=JOB_SSE_DESCRIPTION,
                examples=[
                    OpenApiExample(
                        "stream",
                        'event: result\nid: testjob-7a1e…:1\ndata: {"job_id":"7a1e…","total":2,"done":1,…}\n\n'
                        'event: done\nid: testjob-7a1e…:3\ndata: {"id":"7a1e…","state":"done",…}\n\n',
                    )
                ],
            ),
            **ERRORS,
        },
    )
    def get(self, request, workspace_id, job_id):
        job = selectors.test_job_get(workspace=self.workspace, job_id=job_id)
        return job_events_response(request, job)
