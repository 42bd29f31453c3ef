"""List endpoints: declared filters (django-filter), unknown query parameters refused, optional keyset pages.

A list stays the contract's bare JSON array. `limit` asks for pages; the next page's URL is then given in a
`Link: <…>; rel="next"` header, so a client that ignores it still gets every row when it sends no `limit`.
Such an answer of every row is streamed (`streamed_array`): read in keyset batches and written as it is read,
so the server's memory does not grow with the rows.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from asgiref.sync import sync_to_async
from django.core import signing
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.urls import replace_query_param

from connectors.runtime.registry import connector_types

from ..models import Connection, Destination, DestinationStatus, TestRun, TestRunStatus, TestRunTrigger
from .params import int_param

MAX_LIMIT = 1000
STREAM_BATCH = 1000  # rows read per query of a streamed answer
_RENDERER = JSONRenderer()


def _type_choices():
    return [(name, name) for name in connector_types()]


class ExpiringWithinDays(django_filters.NumberFilter):
    """`expiring_within_days=N`: credentials known to expire within N days (already expired ones included)."""

    def __init__(self, **kwargs):
        super().__init__(field_name="credentials_expire_at", min_value=0, max_value=3650, **kwargs)

    def filter(self, queryset, value):
        if value is None:
            return queryset
        return queryset.filter(credentials_expire_at__lte=timezone.now() + timedelta(days=float(value)))


class DestinationFilter(django_filters.FilterSet):
    destination_type = django_filters.ChoiceFilter(choices=_type_choices)
    status = django_filters.ChoiceFilter(choices=DestinationStatus.choices)
    connection_id = django_filters.UUIDFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")
    expiring_within_days = ExpiringWithinDays()

    class Meta:
        model = Destination
        fields = ["destination_type", "status", "connection_id", "name", "expiring_within_days"]


class NoFilter(django_filters.FilterSet):
    """A listing with paging parameters only."""


class ConnectionFilter(django_filters.FilterSet):
    destination_type = django_filters.ChoiceFilter(choices=_type_choices)
    name = django_filters.CharFilter(lookup_expr="icontains")
    expiring_within_days = ExpiringWithinDays()

    class Meta:
        model = Connection
        fields = ["destination_type", "name", "expiring_within_days"]


class TestRunFilter(django_filters.FilterSet):
    __test__ = False

    status = django_filters.ChoiceFilter(choices=TestRunStatus.choices, method="filter_status")
    trigger = django_filters.ChoiceFilter(choices=TestRunTrigger.choices)

    class Meta:
        model = TestRun
        fields = ["status", "trigger"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(TestRunStatus(value).condition)


def refuse_unknown_params(query_params, allowed) -> None:
    """A typo'd or unsupported parameter must not silently return everything."""
    unknown = sorted(set(query_params) - set(allowed))
    if unknown:
        raise ValidationError({name: ["Unknown query parameter."] for name in unknown})


def filtered(filterset_class, query_params, queryset):
    """`queryset` narrowed by the declared filters; invalid values are a 400 naming the parameter."""
    blank = [
        name
        for name, spec in filterset_class.base_filters.items()
        if query_params.get(name) == "" and not isinstance(spec, django_filters.CharFilter)
    ]
    if blank:  # django-filter would read `?status=` as no filter at all
        raise ValidationError({name: ["Must not be blank."] for name in blank})
    filterset = filterset_class(data=query_params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


class KeysetPagination(CursorPagination):
    """DRF's cursor pagination with a signed cursor, a strict `limit`, and the next page in a Link header.

    Without `limit` (and no `default_limit`) nothing is paginated. The cursor is signed (and bound to the
    listing), so a tampered or foreign cursor is a 400, not a silently wrong page.
    """

    page_size_query_param = "limit"
    cursor_query_param = "cursor"
    max_page_size = MAX_LIMIT

    def __init__(self, *, ordering: tuple[str, ...], listing: str, default_limit: int | None = None, max_limit=None):
        self.ordering = ordering
        self.page_size = default_limit
        self.max_page_size = max_limit or MAX_LIMIT
        self._salt = f"destinations.api.cursor.{listing}"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            if self.cursor_query_param in request.query_params and self.page_size is None:
                raise ValidationError({"cursor": ["Only valid together with limit."]})
            return self.page_size
        return int_param(request, "limit", default=0, minimum=1, maximum=self.max_page_size)

    def encode_cursor(self, cursor: Cursor) -> str:
        token = signing.dumps([cursor.offset, cursor.reverse, cursor.position], salt=self._salt)
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def decode_cursor(self, request) -> Cursor | None:
        token = request.query_params.get(self.cursor_query_param)
        if token is None:
            return None
        try:
            offset, reverse, position = signing.loads(token, salt=self._salt)
            if not isinstance(offset, int) or offset < 0 or not isinstance(position, str | None):
                raise ValueError
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationError({"cursor": ["Invalid cursor; use the URL of a Link header as given."]}) from None
        return Cursor(offset=min(offset, self.offset_cutoff), reverse=bool(reverse), position=position)

    def page(self, queryset, request) -> list:
        """The rows to answer: one page when `limit` is given (or defaulted), else all of them."""
        rows = self.paginate_queryset(queryset, request)
        return list(queryset) if rows is None else rows

    def link_headers(self) -> dict:
        if getattr(self, "page_size", None) and getattr(self, "has_next", False):
            return {"Link": f'<{self.get_next_link()}>; rel="next"'}
        return {}


def list_queryset(request, *, filterset_class, queryset):
    """A listing's rows: unknown parameters refused, the declared filters applied."""
    refuse_unknown_params(request.query_params, [*filterset_class.base_filters, "limit", "cursor"])
    return filtered(filterset_class, request.query_params, queryset)


def list_page(request, *, filterset_class, queryset, pagination: KeysetPagination, values: tuple[str, ...] = ()):
    """One listing: refuse unknown parameters, filter, then one page (or all); returns (rows, headers)."""
    queryset = list_queryset(request, filterset_class=filterset_class, queryset=queryset)
    if values:
        queryset = queryset.values(*values)
    return pagination.page(queryset, request), pagination.link_headers()


def paging_parameters(*, default_limit: int | None = None, max_limit: int = MAX_LIMIT) -> list[OpenApiParameter]:
    default = f"default {default_limit}" if default_limit else "without it every row is returned"
    return [
        OpenApiParameter(
            "limit",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": max_limit,
                **({"default": default_limit} if default_limit else {}),
            },
            description=f"Page size, 1-{max_limit} ({default}). The next page's URL is in the `Link` header "
            '(`<…>; rel="next"`), absent on the last page.',
        ),
        OpenApiParameter(
            "cursor", OpenApiTypes.STR, description="Opaque; only as given in a `Link` header, with `limit`."
        ),
    ]


DESTINATION_FILTER_PARAMETERS = [
    OpenApiParameter("destination_type", OpenApiTypes.STR, enum=connector_types(), description="Only this type."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=DestinationStatus.values, description="Only this status."),
    OpenApiParameter("connection_id", OpenApiTypes.UUID, description="Only those using this shared connection."),
    OpenApiParameter("name", OpenApiTypes.STR, description="Name contains this (case-insensitive)."),
    OpenApiParameter(
        "expiring_within_days",
        {"type": "integer", "minimum": 0, "maximum": 3650},
        description="Only those whose credentials are known to expire within this many days (or have expired).",
    ),
]
CONNECTION_FILTER_PARAMETERS = [
    DESTINATION_FILTER_PARAMETERS[0],
    DESTINATION_FILTER_PARAMETERS[3],
    DESTINATION_FILTER_PARAMETERS[4],
]
TEST_RUN_FILTER_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=["passed", "failed", "running"], description="Only these runs."),
    OpenApiParameter("trigger", OpenApiTypes.STR, enum=TestRunTrigger.values, description="Only runs started so."),
]


def _keyset_batch(queryset, after: tuple | None) -> list:
    """The next STREAM_BATCH rows of `queryset` (values with created_at and id) after the (created_at, id) key."""
    if after is not None:
        queryset = queryset.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
    return list(queryset.order_by("created_at", "id")[:STREAM_BATCH])


def _array_parts(rows: list, represent, first: bool) -> bytes:
    """One batch of the array's items, rendered as any JSON answer of the API is (DRF's renderer)."""
    items = b",".join(_RENDERER.render(represent(row)) for row in rows)
    opening = b"[" if first else b","
    return opening + items if items else (b"[" if first else b"")


def streamed_array(request, queryset, represent) -> StreamingHttpResponse:
    """Every row of `queryset` (`.values()` with created_at and id) as one JSON array, read and written in batches
    of STREAM_BATCH in (created_at, id) order: the memory of one batch, whatever the number of rows.

    Batches are separate queries, so a row written meanwhile may or may not be in the answer (as with pages).
    Under ASGI the batches are read by an async iterator; a sync one would be read whole before the first byte.
    """

    def parts():
        after, first = None, True
        while True:
            rows = _keyset_batch(queryset, after)
            yield _array_parts(rows, represent, first)
            first = False
            if len(rows) < STREAM_BATCH:
                yield b"]"
                return
            after = rows[-1]["created_at"], rows[-1]["id"]

    async def async_parts():
        after, first = None, True
        while True:
            rows = await sync_to_async(_keyset_batch)(queryset, after)
            yield _array_parts(rows, represent, first)
            first = False
            if len(rows) < STREAM_BATCH:
                yield b"]"
                return
            after = rows[-1]["created_at"], rows[-1]["id"]

    content = async_parts() if isinstance(request._request, ASGIRequest) else parts()
    return StreamingHttpResponse(content, content_type="application/json")
