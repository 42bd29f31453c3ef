"""Thin views: parse, call one service or selector, render."""

from __future__ import annotations

from functools import partial

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors.runtime.registry import connector_classes
from workspaces.throttling import FIELDS_REFRESH_THROTTLES, VENDOR_CALL_THROTTLES

from .. import selectors, services
from ..errors import InvalidInput
from ..events.streams import event_stream_response, run_events_response
from ..models import AuditVia
from ..representation import DESTINATION_FIELDS, destination_representation
from ..runs.runtime import connection_test_submit
from ..runs.service import connection_test_prepare
from ..services import audit, idempotency
from . import listing, stream_tokens
from .base import JSONErrorsNegotiation, WorkspaceScopedView
from .docs import ERRORS, IDEMPOTENCY_CONFLICT, IDEMPOTENCY_PARAM, SSE_RESPONSE, WORKSPACE_HEADER_PARAM
from .errors import flatten_errors
from .params import bool_param
from .serializers import (
    AuditEventSerializer,
    ConflictSerializer,
    ConnectionCreateSerializer,
    ConnectionSerializer,
    ConnectionTestNewSerializer,
    ConnectionTestStoredSerializer,
    ConnectionUpdateSerializer,
    DeletedSerializer,
    DestinationCreateSerializer,
    DestinationSerializer,
    DestinationTypeSerializer,
    DestinationUpdateSerializer,
    FieldsSerializer,
    MappingValidateSerializer,
    MappingValidationSerializer,
    StreamTokenSerializer,
    TestRunSerializer,
    VendorErrorSerializer,
)


def validated(serializer_cls, data, *, also=None) -> dict:
    """The body as `serializer_cls` validates it, or one 400 naming every invalid field at once.

    `also(data)` checks the parts the services validate (a type's config) even when the serializer already
    failed, so a blank name does not hide the config errors until the next try.
    """
    serializer = serializer_cls(data=data)
    if serializer.is_valid():
        return serializer.validated_data
    errors = flatten_errors(serializer.errors)
    if also is not None and isinstance(data, dict):
        try:
            also(data)
        except InvalidInput as exc:
            errors = {**exc.errors, **errors}
        except (TypeError, ValueError, AttributeError):
            pass  # a body too malformed to check further: the serializer's errors say why
    raise InvalidInput(errors)


def _check_destination(data: dict, *, workspace) -> None:
    services.destination_config_check(
        workspace=workspace,
        destination_type=data.get("destination_type"),
        config=data.get("config"),
        connection_id=data.get("connection_id"),
    )


def _check_credentials(data: dict) -> None:
    services.connection_credentials_check(
        destination_type=data.get("destination_type"), credentials=data.get("credentials")
    )


TEST_RUNS_PAGE, TEST_RUNS_MAX = 20, 100
HISTORY_PAGE, HISTORY_MAX = 100, 1000  # every test adds an entry: a much-tested destination has tens of thousands


REPLAYED = {"Idempotent-Replayed": "true"}
NO_STORE = {"Cache-Control": "no-store"}  # a credential: no cache keeps it


def _once(view, request, *, status_code: int, perform) -> idempotency.Outcome:
    """`perform` once per Idempotency-Key of this workspace (or simply, without one)."""
    return idempotency.run_once(
        workspace=view.workspace,
        key=idempotency.valid_key(request.headers.get(idempotency.HEADER)),
        fingerprint=idempotency.request_fingerprint(method=request.method, path=request.path, body=request.data),
        status_code=status_code,
        perform=perform,
    )


def _test_once(view, request, **prepare_kwargs):
    """Start a connection test and stream it; a replayed key re-attaches to the run it started."""

    def prepare():
        prepared = connection_test_prepare(workspace=view.workspace, actor=request.user, **prepare_kwargs)
        return prepared.test_run.pk, prepared

    outcome = _once(view, request, status_code=200, perform=prepare)
    if outcome.replayed:
        run = selectors.test_run_get(workspace=view.workspace, run_id=outcome.resource_id)
        response = run_events_response(request, run)  # the one re-attach path
        response["Idempotent-Replayed"] = "true"
        return response
    connection_test_submit(outcome.value)
    run = outcome.value.test_run
    return event_stream_response(run.channel, request=request, headers={"X-Test-Run-ID": str(run.pk)})


class DestinationTypesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="destination_types_list",
        tags=["destination types"],
        summary="Every destination type: label, auth method, config schema (secrets marked), test steps",
        responses={200: DestinationTypeSerializer(many=True), 401: ERRORS[401]},
    )
    def get(self, request):
        return Response([cls.describe_type() for cls in connector_classes().values()])


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["destinations"])
class DestinationListView(WorkspaceScopedView):
    @extend_schema(
        operation_id="destinations_list",
        description="Every destination, oldest first, narrowed by the filters given; an unknown parameter is a 400. "
        "Without `limit` the whole array is streamed, read in batches of 1,000 (the server's memory stays that of "
        "one batch; the time and bytes grow with the destinations: about 40 ms and 0.5 MB per 1,000); with `limit` "
        "it comes in keyset pages, the next one in the `Link` header.",
        parameters=[*listing.DESTINATION_FILTER_PARAMETERS, *listing.paging_parameters()],
        responses={200: DestinationSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id):
        pagination = listing.KeysetPagination(ordering=("created_at", "id"), listing="destinations")
        queryset = listing.list_queryset(
            request,
            filterset_class=listing.DestinationFilter,
            queryset=selectors.destination_list(workspace=self.workspace),
        ).values(*DESTINATION_FIELDS)
        if pagination.get_page_size(request) is None and request.accepted_renderer.format == "json":
            # The contract's array of every destination, streamed (the browsable API renders it whole).
            return listing.streamed_array(request, queryset, destination_representation)
        rows = pagination.page(queryset, request)
        return Response([destination_representation(row) for row in rows], headers=pagination.link_headers())

    @extend_schema(
        operation_id="destinations_create",
        parameters=[IDEMPOTENCY_PARAM],
        request=DestinationCreateSerializer,
        responses={201: DestinationSerializer, **ERRORS, **IDEMPOTENCY_CONFLICT},
    )
    def post(self, request, workspace_id):
        data = validated(
            DestinationCreateSerializer, request.data, also=partial(_check_destination, workspace=self.workspace)
        )

        def create():
            destination = services.destination_create(
                workspace=self.workspace, actor=request.user, via=AuditVia.API, **data
            )
            return destination.pk, destination

        outcome = _once(self, request, status_code=status.HTTP_201_CREATED, perform=create)
        if outcome.replayed:  # answered as the first time, with the destination as it is now
            destination = selectors.destination_get(workspace=self.workspace, destination_id=outcome.resource_id)
            return Response(DestinationSerializer(destination).data, status=outcome.status_code, headers=REPLAYED)
        return Response(DestinationSerializer(outcome.value).data, status=outcome.status_code)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["destinations"])
class DestinationDetailView(WorkspaceScopedView):
    def destination(self, destination_id):
        return selectors.destination_get(workspace=self.workspace, destination_id=destination_id)

    @extend_schema(operation_id="destinations_retrieve", responses={200: DestinationSerializer, **ERRORS})
    def get(self, request, workspace_id, destination_id):
        return Response(DestinationSerializer(self.destination(destination_id)).data)

    @extend_schema(
        operation_id="destinations_update",
        description="Only the fields sent change; `config` is merged key by key (`null` removes a key, a "
        "secret sent as `********` or omitted keeps its stored value). `destination_type` may change only "
        "with a config valid for the new type. A change to config, connection or type resets `status` to "
        "`pending`.",
        request=DestinationUpdateSerializer,
        responses={200: DestinationSerializer, **ERRORS},
    )
    def put(self, request, workspace_id, destination_id):
        serializer = DestinationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        destination = services.destination_update(
            destination=self.destination(destination_id),
            actor=request.user,
            via=AuditVia.API,
            data=serializer.validated_data,
        )
        return Response(DestinationSerializer(destination).data)

    @extend_schema(
        operation_id="destinations_partial_update",
        request=DestinationUpdateSerializer,
        responses={200: DestinationSerializer, **ERRORS},
        description="Same as PUT.",
    )
    def patch(self, request, workspace_id, destination_id):
        return self.put(request, workspace_id, destination_id)

    @extend_schema(
        operation_id="destinations_destroy",
        responses={
            200: DeletedSerializer,
            409: OpenApiResponse(
                ConflictSerializer, description="Active Reverse ETL pipelines or Syncs use it; `blocking` names them."
            ),
            **ERRORS,
        },
    )
    def delete(self, request, workspace_id, destination_id):
        services.destination_delete(destination=self.destination(destination_id), actor=request.user, via=AuditVia.API)
        return Response({"status": "deleted"})


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class DestinationTestNewView(WorkspaceScopedView):
    content_negotiation_class = JSONErrorsNegotiation
    throttle_classes = VENDOR_CALL_THROTTLES

    @extend_schema(
        operation_id="destinations_test_new",
        parameters=[IDEMPOTENCY_PARAM],
        request=ConnectionTestNewSerializer,
        responses={**SSE_RESPONSE, **IDEMPOTENCY_CONFLICT},
        summary="Test a new connection (streamed as Server-Sent Events)",
    )
    def post(self, request, workspace_id):
        data = validated(
            ConnectionTestNewSerializer, request.data, also=partial(_check_destination, workspace=self.workspace)
        )
        return _test_once(self, request, **data)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class DestinationTestView(WorkspaceScopedView):
    content_negotiation_class = JSONErrorsNegotiation
    throttle_classes = VENDOR_CALL_THROTTLES

    @extend_schema(
        operation_id="destinations_test",
        parameters=[IDEMPOTENCY_PARAM],
        request=ConnectionTestStoredSerializer,
        responses={**SSE_RESPONSE, **IDEMPOTENCY_CONFLICT},
        summary="Test a stored destination (SSE); its status is updated when the test ends",
    )
    def post(self, request, workspace_id, destination_id):
        serializer = ConnectionTestStoredSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        destination = selectors.destination_get(workspace=self.workspace, destination_id=destination_id)
        return _test_once(self, request, destination=destination, config=serializer.validated_data.get("config"))


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestRunEventsView(WorkspaceScopedView):
    content_negotiation_class = JSONErrorsNegotiation
    # a browser's EventSource sends no headers: it presents a stream token for this run instead
    authentication_classes = [*WorkspaceScopedView.authentication_classes, stream_tokens.StreamTokenAuthentication]

    @extend_schema(
        operation_id="test_run_events",
        summary="Attach to a test run: its events replayed from the start (or after Last-Event-ID), then live",
        description="With `?stream_token=` (from POST …/stream-token) no header is needed, for `EventSource`. "
        "A client that already has the run's `done` event is answered 204 No Content: `EventSource` then stops.",
        parameters=[
            OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                stream_tokens.QUERY_PARAM,
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="A stream token for this run, instead of the Authorization and X-Workspace-ID headers.",
            ),
        ],
        responses={**SSE_RESPONSE, 204: OpenApiResponse(description="The client already has `done`.")},
    )
    def get(self, request, workspace_id, run_id):
        stream_tokens.require_run(request, run_id)
        return run_events_response(request, selectors.test_run_get(workspace=self.workspace, run_id=run_id))


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestRunStreamTokenView(WorkspaceScopedView):
    reads_only = True  # any member may follow a run; the token reads that run's events and nothing else

    @extend_schema(
        operation_id="test_run_stream_token",
        summary="A short-lived token with which a browser's EventSource follows this run (events_url)",
        description="`events_url` carries the token as `stream_token`, so `new EventSource(events_url)` needs no "
        "header. The token reads this run's events only, expires after `expires_at`, and is masked in the "
        "access log; the API token is never accepted in a URL.",
        request=None,
        responses={201: StreamTokenSerializer, **ERRORS},
    )
    def post(self, request, workspace_id, run_id):
        run = selectors.test_run_get(workspace=self.workspace, run_id=run_id)
        token, expires_at = stream_tokens.stream_token_issue(run=run, user=request.user)
        path = reverse("test-run-events", kwargs={"workspace_id": workspace_id, "run_id": run_id})
        events_url = request.build_absolute_uri(f"{path}?{stream_tokens.QUERY_PARAM}={token}")
        body = {"token": token, "expires_at": expires_at, "events_url": events_url}
        return Response(StreamTokenSerializer(body).data, status=status.HTTP_201_CREATED, headers=NO_STORE)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class TestRunDetailView(WorkspaceScopedView):
    @extend_schema(operation_id="test_run_retrieve", responses={200: TestRunSerializer, **ERRORS})
    def get(self, request, workspace_id, run_id):
        return Response(TestRunSerializer(selectors.test_run_get(workspace=self.workspace, run_id=run_id)).data)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connection tests"])
class DestinationTestRunsView(WorkspaceScopedView):
    @extend_schema(
        operation_id="destinations_test_runs",
        summary="A destination's test runs, newest first, 20 a page unless `limit` says otherwise",
        parameters=[
            *listing.TEST_RUN_FILTER_PARAMETERS,
            *listing.paging_parameters(default_limit=TEST_RUNS_PAGE, max_limit=TEST_RUNS_MAX),
        ],
        responses={200: TestRunSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id, destination_id):
        destination = selectors.destination_get(workspace=self.workspace, destination_id=destination_id)
        runs, headers = listing.list_page(
            request,
            filterset_class=listing.TestRunFilter,
            queryset=selectors.test_run_list(workspace=self.workspace, destination=destination),
            pagination=listing.KeysetPagination(
                ordering=("-started_at", "-id"),
                listing="test-runs",
                default_limit=TEST_RUNS_PAGE,
                max_limit=TEST_RUNS_MAX,
            ),
        )
        return Response(TestRunSerializer(runs, many=True).data, headers=headers)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["destinations"])
class DestinationHistoryView(WorkspaceScopedView):
    @extend_schema(
        operation_id="destinations_history",
        summary="Who created, changed, tested or deleted this destination, when and through what; newest first, "
        "100 a page unless `limit` says otherwise",
        description="Changed fields are named (`config.url`); secret ones are listed in `secret_fields` too. "
        "No value, old or new, is kept.",
        parameters=listing.paging_parameters(default_limit=HISTORY_PAGE, max_limit=HISTORY_MAX),
        responses={200: AuditEventSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id, destination_id):
        destination = selectors.destination_get(workspace=self.workspace, destination_id=destination_id)
        events, headers = listing.list_page(
            request,
            filterset_class=listing.NoFilter,
            queryset=audit.audit_history(workspace=self.workspace, target=destination),
            pagination=listing.KeysetPagination(
                ordering=("-created_at", "-id"), listing="history", default_limit=HISTORY_PAGE, max_limit=HISTORY_MAX
            ),
        )
        return Response(AuditEventSerializer(events, many=True).data, headers=headers)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["destinations"])
class DestinationFieldsView(WorkspaceScopedView):
    throttle_classes = FIELDS_REFRESH_THROTTLES

    @extend_schema(
        operation_id="destinations_fields",
        summary="The fields Reverse ETL / Sync mappings can target",
        parameters=[
            OpenApiParameter(
                "refresh", {"type": "string", "enum": ["true", "false", "1", "0"]}, description="Read anew, not cached."
            )
        ],
        responses={
            200: FieldsSerializer,
            502: OpenApiResponse(
                VendorErrorSerializer, description="The vendor failed; `error` is the step-style error."
            ),
            **ERRORS,
        },
    )
    def get(self, request, workspace_id, destination_id):
        destination = selectors.destination_get(workspace=self.workspace, destination_id=destination_id)
        refresh = bool_param(request, "refresh")
        return Response(services.destination_fields(destination=destination, refresh=refresh))


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["destinations"])
class DestinationMappingValidateView(WorkspaceScopedView):
    throttle_classes = FIELDS_REFRESH_THROTTLES

    @extend_schema(
        operation_id="destinations_mappings_validate",
        summary="Check a sync's mapping against the destination's fields before it is saved",
        description="Takes the source columns with their warehouse types, the mapping, the identifier pair and the "
        "sync mode; answers `valid` and, per entry and for the whole mapping, problems with what to do. For "
        "audience identifiers, `samples` are shown normalized and hashed as the vendor wants them, and are sent "
        "nowhere. Works from the fields cache; `refresh=true` reads the vendor first.",
        parameters=[
            OpenApiParameter(
                "refresh", {"type": "string", "enum": ["true", "false", "1", "0"]}, description="Read the fields anew."
            )
        ],
        request=MappingValidateSerializer,
        responses={
            200: MappingValidationSerializer,
            502: OpenApiResponse(VendorErrorSerializer, description="Reading the fields from the vendor failed."),
            **ERRORS,
        },
    )
    def post(self, request, workspace_id, destination_id):
        destination = selectors.destination_get(workspace=self.workspace, destination_id=destination_id)
        data = validated(MappingValidateSerializer, request.data)
        answer = services.destination_mapping_validate(
            destination=destination, request=data, refresh=bool_param(request, "refresh")
        )
        return Response(answer)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connections"])
class ConnectionListView(WorkspaceScopedView):
    @extend_schema(
        operation_id="connections_list",
        description="Every shared connection, oldest first, narrowed by the filters given.",
        parameters=[*listing.CONNECTION_FILTER_PARAMETERS, *listing.paging_parameters()],
        responses={200: ConnectionSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id):
        connections, headers = listing.list_page(
            request,
            filterset_class=listing.ConnectionFilter,
            queryset=selectors.connection_list(workspace=self.workspace),
            pagination=listing.KeysetPagination(ordering=("created_at", "id"), listing="connections"),
        )
        return Response(ConnectionSerializer(connections, many=True).data, headers=headers)

    @extend_schema(
        operation_id="connections_create",
        parameters=[IDEMPOTENCY_PARAM],
        request=ConnectionCreateSerializer,
        responses={201: ConnectionSerializer, **ERRORS, **IDEMPOTENCY_CONFLICT},
    )
    def post(self, request, workspace_id):
        data = validated(ConnectionCreateSerializer, request.data, also=_check_credentials)

        def create():
            connection = services.connection_create(
                workspace=self.workspace, actor=request.user, via=AuditVia.API, **data
            )
            return connection.pk, connection

        outcome = _once(self, request, status_code=status.HTTP_201_CREATED, perform=create)
        if outcome.replayed:
            connection = selectors.connection_get(workspace=self.workspace, connection_id=outcome.resource_id)
            return Response(ConnectionSerializer(connection).data, status=outcome.status_code, headers=REPLAYED)
        return Response(ConnectionSerializer(outcome.value).data, status=outcome.status_code)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connections"])
class ConnectionDetailView(WorkspaceScopedView):
    def connection(self, connection_id):
        return selectors.connection_get(workspace=self.workspace, connection_id=connection_id)

    @extend_schema(operation_id="connections_retrieve", responses={200: ConnectionSerializer, **ERRORS})
    def get(self, request, workspace_id, connection_id):
        return Response(ConnectionSerializer(self.connection(connection_id)).data)

    @extend_schema(
        operation_id="connections_update",
        request=ConnectionUpdateSerializer,
        responses={200: ConnectionSerializer, 409: ConflictSerializer, **ERRORS},
    )
    def put(self, request, workspace_id, connection_id):
        serializer = ConnectionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_update(
            connection=self.connection(connection_id),
            actor=request.user,
            via=AuditVia.API,
            data=serializer.validated_data,
        )
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(
        operation_id="connections_destroy",
        responses={
            200: DeletedSerializer,
            409: OpenApiResponse(ConflictSerializer, description="Destinations use it; `blocking` names them."),
            **ERRORS,
        },
    )
    def delete(self, request, workspace_id, connection_id):
        services.connection_delete(connection=self.connection(connection_id), actor=request.user, via=AuditVia.API)
        return Response({"status": "deleted"})
