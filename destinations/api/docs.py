"""OpenAPI parameters and responses the API's views share (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from ..services import idempotency
from .serializers import ErrorSerializer

WORKSPACE_HEADER_PARAM = OpenApiParameter(
    "X-Workspace-ID",
    OpenApiTypes.STR,  # a string, not format uuid: generated clients then send it as given (headers are text)
    OpenApiParameter.HEADER,
    required=True,
    description="The workspace UUID; must equal the workspace id in the path.",
)
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `errors` names each field by path."),
    401: OpenApiResponse(ErrorSerializer, description="Missing or invalid bearer token."),
    403: OpenApiResponse(ErrorSerializer, description="The viewer role cannot change or test."),
    404: OpenApiResponse(ErrorSerializer, description="Not found in this workspace (or not a member)."),
}
SSE_DESCRIPTION = (
    "A `text/event-stream`: one `step` event per check as it finishes (`name`, `status` passed|failed|skipped, "
    "`message`, `duration_ms`, and on failure `error` {`code`, `retryable`, `remediation`}), then one `done` "
    "event (`success`, `steps`, `duration_ms`, `test_run_id`, and for a stored destination `destination`). "
    "Each event has an `id` (`testrun-<run>:<n>`); the `X-Test-Run-ID` header names the run so a client "
    "can re-attach at `.../destinations/test-runs/{run_id}/events`."
)
SSE_EXAMPLE = (
    'event: step\nid: testrun-1f0c…:1\ndata: {"name":"connectivity","status":"passed","message":"Reached …",'
    '"duration_ms":41}\n\nevent: done\nid: testrun-1f0c…:3\ndata: {"success":true,"steps":[…],'
    '"duration_ms":312,"test_run_id":"1f0c…"}\n\n'
)
SSE_RESPONSE = {
    (200, "text/event-stream"): OpenApiResponse(
        OpenApiTypes.STR, description=SSE_DESCRIPTION, examples=[OpenApiExample("stream", SSE_EXAMPLE)]
    ),
    **ERRORS,
}

IDEMPOTENCY_PARAM = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retry safely: the same key with the same body within 24 h answers as the first request did "
    "(`Idempotent-Replayed: true`), without acting again; with another body it is a 422.",
)
IDEMPOTENCY_CONFLICT = {
    422: OpenApiResponse(ErrorSerializer, description="This Idempotency-Key was used with a different request.")
}
