"""What an operator sets, as an API, so a workspace can be managed as code: members and their roles, API tokens,
the monitoring settings (intervals, notification URL, signing secret), the notification log, and each
destination's health-check interval.

Changes to access (members, tokens, the signing secret) are admin-only; the monitoring settings need the write
role like any other change. Every change is audited (names, never a secret). Creations take an Idempotency-Key;
a replayed token creation answers the token without its plaintext, which is shown once.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.access import require_admin
from workspaces.models import ApiToken, Membership, Role, Workspace
from workspaces.services import (
    AccessChangeRefused,
    AlreadyMember,
    api_token_create,
    api_token_revoke,
    member_add,
    member_remove,
    member_role_set,
    workspace_create,
)

from ..errors import Conflict, InvalidInput
from ..models import AuditAction, AuditTarget, AuditVia, WorkspaceMonitoring
from ..selectors import NotFound
from ..services import idempotency
from ..services.audit import Subject, audit_record
from .base import WorkspaceScopedView
from .docs import ERRORS, IDEMPOTENCY_CONFLICT, IDEMPOTENCY_PARAM, WORKSPACE_HEADER_PARAM
from .views import NO_STORE, REPLAYED, _once, validated
from .workspace_serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    WorkspaceCreatedSerializer,
    WorkspaceCreateSerializer,
)

# --- helpers -------------------------------------------------------------------------------------------------


def audit_change(view, request, action: str, subject: Subject, changed=(), secret=(), details=None) -> None:
    audit_record(
        workspace=view.workspace,
        actor=request.user,
        via=AuditVia.API,
        action=action,
        target=subject,
        changed_fields=changed,
        secret_fields=secret,
        details=details,
    )


def _member_subject(membership: Membership) -> Subject:
    user = membership.user
    return Subject(AuditTarget.MEMBER, user.pk, user.email or user.get_username())


def _token_subject(token: ApiToken) -> Subject:
    return Subject(AuditTarget.API_TOKEN, token.pk, f"{token.name} ({token.display_prefix}…)")


def monitoring_subject(workspace) -> Subject:
    return Subject(AuditTarget.MONITORING, workspace.pk, f"Health checks of {workspace.name}")


def _refused(exc: AccessChangeRefused) -> Conflict:
    return Conflict(str(exc), [])


def _membership(workspace, user_id) -> Membership:
    found = Membership.objects.select_related("user").filter(workspace=workspace, user_id=user_id).first()
    if found is None:
        raise NotFound("Member not found.")
    return found


def _token(workspace, token_id) -> ApiToken:
    found = ApiToken.objects.filter(workspace=workspace, pk=token_id).first()
    if found is None:
        raise NotFound("API token not found.")
    return found


def monitoring_as_dict(workspace) -> dict:
    monitoring = WorkspaceMonitoring.objects.filter(workspace=workspace).first()
    if monitoring is None:
        return {"check_interval_minutes": None, "notification_url": "", "signing_secret_set": False,
                "secret_rotated_at": None, "updated_at": None}  # fmt: skip
    return {
        "check_interval_minutes": monitoring.check_interval_minutes,
        "notification_url": monitoring.notification_url,
        "signing_secret_set": bool(monitoring.signing_secret.get("secret")),
        "secret_rotated_at": monitoring.secret_rotated_at,
        "updated_at": monitoring.updated_at,
    }


# --- workspaces ----------------------------------------------------------------------------------------------


@extend_schema(tags=["members"])
class WorkspaceCreateView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="workspaces_create",
        description="Staff only (a deployment operator's token). A new workspace with the caller as its admin, "
        "and the caller's token for it in `token`, shown once. The Idempotency-Key is kept in the workspace of "
        "the token that calls.",
        parameters=[IDEMPOTENCY_PARAM],
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceCreatedSerializer, **ERRORS, **IDEMPOTENCY_CONFLICT},
    )
    def post(self, request):
        if not (request.user.is_staff and isinstance(request.auth, ApiToken)):
            raise exceptions.PermissionDenied(
                "Creating workspaces is for the deployment's operators: call with the API token of a staff user "
                "(make one with `manage.py create_workspace`, then mark the user staff in the admin)."
            )
        data = validated(WorkspaceCreateSerializer, request.data)
        caller = request.auth.workspace

        def create():
            workspace, plaintext = workspace_create(name=data["name"], admin=request.user)
            audit_record(
                workspace=workspace,
                actor=request.user,
                via=AuditVia.API,
                action=AuditAction.CREATE,
                target=Subject(AuditTarget.MEMBER, request.user.pk, request.user.email or request.user.get_username()),
                changed_fields=["role"],
                details={"role": Role.ADMIN, "workspace_created": True},
            )
            return workspace.pk, (workspace, plaintext)

        outcome = idempotency.run_once(
            workspace=caller,
            key=idempotency.valid_key(request.headers.get(idempotency.HEADER)),
            fingerprint=idempotency.request_fingerprint(method=request.method, path=request.path, body=request.data),
            status_code=status.HTTP_201_CREATED,
            perform=create,
        )
        if outcome.replayed:
            workspace = Workspace.objects.get(pk=outcome.resource_id)
            body = {"id": workspace.pk, "name": workspace.name, "created_at": workspace.created_at}
            return Response(WorkspaceCreatedSerializer(body).data, status=201, headers={**REPLAYED, **NO_STORE})
        workspace, plaintext = outcome.value
        body = {"id": workspace.pk, "name": workspace.name, "created_at": workspace.created_at, "token": plaintext}
        return Response(WorkspaceCreatedSerializer(body).data, status=201, headers=NO_STORE)


# --- members -------------------------------------------------------------------------------------------------


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["members"])
class MemberListView(WorkspaceScopedView):
    @extend_schema(operation_id="members_list", responses={200: MemberSerializer(many=True), **ERRORS})
    def get(self, request, workspace_id):
        members = Membership.objects.filter(workspace=self.workspace).select_related("user").order_by("created_at")
        return Response(MemberSerializer(members, many=True).data)

    @extend_schema(
        operation_id="members_create",
        description="Admin only. Adds a person by email with a role; a person already a member is a 409.",
        parameters=[IDEMPOTENCY_PARAM],
        request=MemberAddSerializer,
        responses={201: MemberSerializer, **ERRORS, **IDEMPOTENCY_CONFLICT},
    )
    def post(self, request, workspace_id):
        require_admin(self.membership)
        data = validated(MemberAddSerializer, request.data)

        def add():
            try:
                membership = member_add(workspace=self.workspace, email=data["email"], role=data["role"])
            except AlreadyMember as exc:
                raise Conflict(str(exc), [{"type": "member", "id": str(exc.membership.user_id)}]) from None
            audit_change(
                self, request, AuditAction.CREATE, _member_subject(membership), ["role"], details={"role": data["role"]}
            )
            return membership.user_id, membership

        outcome = _once(self, request, status_code=status.HTTP_201_CREATED, perform=add)
        if outcome.replayed:
            membership = _membership(self.workspace, outcome.resource_id)
            return Response(MemberSerializer(membership).data, status=outcome.status_code, headers=REPLAYED)
        return Response(MemberSerializer(outcome.value).data, status=outcome.status_code)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["members"])
class MemberDetailView(WorkspaceScopedView):
    @extend_schema(operation_id="members_retrieve", responses={200: MemberSerializer, **ERRORS})
    def get(self, request, workspace_id, user_id):
        return Response(MemberSerializer(_membership(self.workspace, user_id)).data)

    @extend_schema(
        operation_id="members_update",
        description="Admin only. Changes the member's role; the last admin cannot be demoted (409).",
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **ERRORS},
    )
    def patch(self, request, workspace_id, user_id):
        require_admin(self.membership)
        data = validated(MemberRoleSerializer, request.data)
        with transaction.atomic():
            membership = _membership(self.workspace, user_id)
            before = membership.role
            try:
                member_role_set(membership, data["role"])
            except AccessChangeRefused as exc:
                raise _refused(exc) from None
            if before != membership.role:
                audit_change(self, request, AuditAction.UPDATE, _member_subject(membership), ["role"],
                       details={"from": before, "to": membership.role})  # fmt: skip
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        operation_id="members_destroy",
        description="Admin only. Removes the member and revokes their tokens here; not the last admin (409).",
        responses={204: None, **ERRORS},
    )
    def delete(self, request, workspace_id, user_id):
        require_admin(self.membership)
        with transaction.atomic():
            membership = _membership(self.workspace, user_id)
            subject = _member_subject(membership)
            try:
                revoked = member_remove(membership)
            except AccessChangeRefused as exc:
                raise _refused(exc) from None
            audit_change(self, request, AuditAction.DELETE, subject, details={"tokens_revoked": revoked})
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API tokens ----------------------------------------------------------------------------------------------


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["api tokens"])
class ApiTokenListView(WorkspaceScopedView):
    @extend_schema(
        operation_id="api_tokens_list",
        description="Admin only. Every token of the workspace, newest first, revoked and expired included.",
        responses={200: ApiTokenSerializer(many=True), **ERRORS},
    )
    def get(self, request, workspace_id):
        require_admin(self.membership)
        tokens = ApiToken.objects.filter(workspace=self.workspace).order_by("-created_at")
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        operation_id="api_tokens_create",
        description="Admin only. The token is in this answer only (`token`); store it now. Idempotent with an "
        "Idempotency-Key: a replay answers the same token without `token`.",
        parameters=[IDEMPOTENCY_PARAM],
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, **ERRORS, **IDEMPOTENCY_CONFLICT},
    )
    def post(self, request, workspace_id):
        require_admin(self.membership)
        data = validated(ApiTokenCreateSerializer, request.data)
        owner = _membership(self.workspace, data["user_id"]).user if "user_id" in data else request.user

        def create():
            try:
                token, plaintext = api_token_create(
                    workspace=self.workspace, user=owner, name=data["name"], expires_at=data.get("expires_at")
                )
            except AccessChangeRefused as exc:
                raise InvalidInput({"expires_at": [str(exc)]}) from None
            audit_change(
                self, request, AuditAction.CREATE, _token_subject(token), details={"user": owner.get_username()}
            )
            return token.pk, (token, plaintext)

        outcome = _once(self, request, status_code=status.HTTP_201_CREATED, perform=create)
        if outcome.replayed:
            token = _token(self.workspace, outcome.resource_id)
            body = ApiTokenSerializer(token).data
            return Response(body, status=outcome.status_code, headers={**REPLAYED, **NO_STORE})
        token, plaintext = outcome.value
        return Response({**ApiTokenSerializer(token).data, "token": plaintext}, status=201, headers=NO_STORE)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["api tokens"])
class ApiTokenDetailView(WorkspaceScopedView):
    @extend_schema(operation_id="api_tokens_retrieve", responses={200: ApiTokenSerializer, **ERRORS})
    def get(self, request, workspace_id, token_id):
        require_admin(self.membership)
        return Response(ApiTokenSerializer(_token(self.workspace, token_id)).data)

    @extend_schema(
        operation_id="api_tokens_destroy",
        description="Admin only. Revokes the token at once; it stays listed, with `revoked_at`.",
        responses={204: None, **ERRORS},
    )
    def delete(self, request, workspace_id, token_id):
        require_admin(self.membership)
        token = _token(self.workspace, token_id)
        if token.revoked_at is None:
            api_token_revoke(token)
            audit_change(self, request, AuditAction.DELETE, _token_subject(token))
        return Response(status=status.HTTP_204_NO_CONTENT)
