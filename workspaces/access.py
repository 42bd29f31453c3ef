"""Who may do what in a workspace. The workspace always comes from the URL, never from a body."""

from __future__ import annotations

import uuid

from rest_framework import exceptions

from .models import ApiToken, Membership, Role, Workspace

WORKSPACE_HEADER = "X-Workspace-ID"


class WorkspaceNotFound(exceptions.NotFound):
    default_detail = "Workspace not found."


def workspace_membership(
    *, user, auth, workspace_id, header_value: str | None, staff_session: bool = False
) -> Membership:
    """The caller's membership of the workspace in the path.

    400 when the X-Workspace-ID header is missing or names another workspace; 404 when the caller is not a
    member (or the token belongs to another workspace), so no one learns which workspaces exist.
    A `staff_session` (development's browsable API, where a browser sends no custom header) may omit the
    header, and a superuser acts as an admin of any workspace, as in the admin site.
    """
    if not header_value and staff_session:
        header_value = str(workspace_id)
    if not header_value:
        raise exceptions.ValidationError({WORKSPACE_HEADER: [f"The {WORKSPACE_HEADER} header is required."]})
    try:
        header_id = uuid.UUID(header_value.strip())
    except ValueError:
        raise exceptions.ValidationError({WORKSPACE_HEADER: ["Must be a workspace UUID."]}) from None
    if header_id != workspace_id:
        raise exceptions.ValidationError({WORKSPACE_HEADER: ["Must equal the workspace id in the path."]})
    if isinstance(auth, ApiToken) and auth.workspace_id != workspace_id:
        raise WorkspaceNotFound()
    if isinstance(auth, ApiToken) and hasattr(auth, "member_role"):  # read with the token (authentication.py)
        if auth.member_role is None:  # the token outlived its user's membership
            raise WorkspaceNotFound()
        return Membership(workspace=auth.workspace, user=user, role=auth.member_role)
    membership = Membership.objects.select_related("workspace").filter(workspace_id=workspace_id, user=user).first()
    if membership is None and staff_session and user.is_superuser:
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        membership = Membership(workspace=workspace, user=user, role=Role.ADMIN) if workspace else None
    if membership is None:
        raise WorkspaceNotFound()
    return membership


def require_write(membership: Membership) -> None:
    if not membership.can_write:
        raise exceptions.PermissionDenied(f"The {membership.role} role can read but not change or test.")


def require_admin(membership: Membership) -> None:
    """Changes to who may do what (members, tokens, the signing secret) are the admins' alone."""
    if membership.role != Role.ADMIN:
        raise exceptions.PermissionDenied(
            f"The {membership.role} role cannot change members, API tokens or the signing secret; ask an admin "
            "of the workspace."
        )
