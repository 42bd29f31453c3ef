"""Monitoring as code: the workspace's notification settings, signing secret and log, and a destination's
health-check interval."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from workspaces.access import require_admin

from .. import selectors, services
from ..errors import InvalidInput
from ..models import AuditAction, AuditVia, Notification, NotificationState, WorkspaceMonitoring
from ..services.notifications import signing_secret_rotate, workspace_monitoring_update
from .base import WorkspaceScopedView
from .docs import ERRORS, WORKSPACE_HEADER_PARAM
from .params import int_param
from .views import NO_STORE, validated
from .workspace_serializers import (
    HealthCheckSerializer,
    MonitoringSerializer,
    MonitoringUpdatedSerializer,
    MonitoringUpdateSerializer,
    NotificationSerializer,
    SigningSecretSerializer,
)
from .workspace_settings import audit_change, monitoring_as_dict, monitoring_subject

NOTIFICATIONS_PAGE, NOTIFICATIONS_MAX = 50, 200


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["monitoring"])
class MonitoringView(WorkspaceScopedView):
    @extend_schema(operation_id="monitoring_retrieve", responses={200: MonitoringSerializer, **ERRORS})
    def get(self, request, workspace_id):
        return Response(MonitoringSerializer(monitoring_as_dict(self.workspace)).data)

    @extend_schema(
        operation_id="monitoring_update",
        description="Only the fields sent change. The first notification URL creates the signing secret, "
        "answered once as `signing_secret`.",
        request=MonitoringUpdateSerializer,
        responses={200: MonitoringUpdatedSerializer, **ERRORS},
    )
    def patch(self, request, workspace_id):
        data = validated(MonitoringUpdateSerializer, request.data)
        with transaction.atomic():
            before = monitoring_as_dict(self.workspace)
            _monitoring_row, secret = workspace_monitoring_update(workspace=self.workspace, **data)
            changed = [name for name in data if before[name] != data[name]]
            if changed or secret:
                audit_change(self, request, AuditAction.UPDATE, monitoring_subject(self.workspace), changed,
                       ["signing_secret"] if secret else [])  # fmt: skip
        body = MonitoringSerializer(monitoring_as_dict(self.workspace)).data
        if secret:
            return Response({**body, "signing_secret": secret}, headers=NO_STORE)
        return Response(body)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["monitoring"])
class SigningSecretRotateView(WorkspaceScopedView):
    @extend_schema(
        operation_id="monitoring_signing_secret_rotate",
        description="Admin only. A new signing secret, in this answer only; the old one stops signing at once.",
        request=None,
        responses={200: SigningSecretSerializer, **ERRORS},
    )
    def post(self, request, workspace_id):
        require_admin(self.membership)
        with transaction.atomic():
            plaintext = signing_secret_rotate(workspace=self.workspace)
            audit_change(
                self, request, AuditAction.UPDATE, monitoring_subject(self.workspace), secret=["signing_secret"]
            )
        rotated_at = WorkspaceMonitoring.objects.get(workspace=self.workspace).secret_rotated_at
        return Response({"signing_secret": plaintext, "secret_rotated_at": rotated_at}, headers=NO_STORE)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["monitoring"])
class NotificationListView(WorkspaceScopedView):
    @extend_schema(
        operation_id="notifications_list",
        description=f"The notification log, newest first: the latest `limit` (default {NOTIFICATIONS_PAGE}, "
        f"at most {NOTIFICATIONS_MAX}), optionally of one `state`.",
        parameters=[
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("state", str, required=False, enum=NotificationState.values),
        ],
        responses={200: NotificationSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id):
        limit = int_param(request, "limit", default=NOTIFICATIONS_PAGE, minimum=1, maximum=NOTIFICATIONS_MAX)
        rows = Notification.objects.filter(workspace=self.workspace).order_by("-created_at", "-id")
        state = request.query_params.get("state")
        if state is not None:
            if state not in NotificationState.values:
                raise InvalidInput({"state": [f"One of {', '.join(NotificationState.values)}."]})
            rows = rows.filter(state=state)
        return Response(NotificationSerializer(rows[:limit], many=True).data)


# --- a destination's health check ----------------------------------------------------------------------------


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["monitoring"])
class DestinationHealthCheckView(WorkspaceScopedView):
    def destination(self, destination_id):
        return selectors.destination_get(workspace=self.workspace, destination_id=destination_id)

    @extend_schema(operation_id="destination_health_check_retrieve", responses={200: HealthCheckSerializer, **ERRORS})
    def get(self, request, workspace_id, destination_id):
        destination = self.destination(destination_id)
        return Response({"check_interval_minutes": destination.check_interval_minutes})

    @extend_schema(
        operation_id="destination_health_check_update",
        description="This destination's re-test interval, overriding the workspace's.",
        request=HealthCheckSerializer,
        responses={200: HealthCheckSerializer, **ERRORS},
    )
    def put(self, request, workspace_id, destination_id):
        data = validated(HealthCheckSerializer, request.data)
        destination = services.destination_update(
            destination=self.destination(destination_id), actor=request.user, via=AuditVia.API, data=data
        )
        return Response({"check_interval_minutes": destination.check_interval_minutes})
