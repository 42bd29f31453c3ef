"""Writes for workspaces, members and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .models import ApiToken, Membership, Role, Workspace, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_create(*, workspace: Workspace, user, name: str = "default", expires_at=None) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned here once and never stored."""
    if expires_at is not None and expires_at <= timezone.now():
        raise AccessChangeRefused(
            "expires_at is in the past: give a future time, or none for a token that never expires."
        )
    plaintext = ApiToken.generate_plaintext()
    token = ApiToken.objects.create(
        workspace=workspace,
        user=user,
        name=name,
        digest=hash_token(plaintext),
        display_prefix=plaintext[:10],
        expires_at=expires_at,
    )
    return token, plaintext


def api_token_revoke(token: ApiToken) -> ApiToken:
    """Revoke at once (a second revoke keeps the first time)."""
    if token.revoked_at is None:
        token.revoke()
    return token


def api_token_touch(token: ApiToken) -> None:
    """Record use, at most once a minute, so authentication does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


class AccessChangeRefused(ValueError):
    """A change to who may do what that would break the workspace (its last admin) or makes no sense."""


class AlreadyMember(ValueError):
    def __init__(self, membership: Membership):
        self.membership = membership
        super().__init__(
            f"{membership.user.email or membership.user.get_username()} is already a member ({membership.role}); "
            "change the role with PATCH on the member instead."
        )


def _keep_an_admin(membership: Membership) -> None:
    others = Membership.objects.filter(workspace=membership.workspace, role=Role.ADMIN).exclude(pk=membership.pk)
    if membership.role == Role.ADMIN and not others.exists():
        raise AccessChangeRefused(
            "This is the workspace's last admin: make another member an admin first, so someone can still manage it."
        )


@transaction.atomic
def member_add(*, workspace: Workspace, email: str, role: str) -> Membership:
    """Add the user with this email (created, without a password, if new) with `role`."""
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_model.objects.create_user(username=email, email=email)
    existing = Membership.objects.select_related("user").filter(workspace=workspace, user=user).first()
    if existing is not None:
        raise AlreadyMember(existing)
    return Membership.objects.create(workspace=workspace, user=user, role=Role(role))


@transaction.atomic
def member_role_set(membership: Membership, role: str) -> Membership:
    if Role(role) != Role.ADMIN:
        _keep_an_admin(membership)
    membership.role = Role(role)
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(membership: Membership) -> int:
    """Remove the member and revoke their tokens in this workspace; returns how many tokens were revoked."""
    _keep_an_admin(membership)
    revoked = ApiToken.objects.active().filter(workspace=membership.workspace, user=membership.user)
    count = revoked.update(revoked_at=timezone.now())
    membership.delete()
    return count


class DuplicateWorkspaceName(ValueError):
    """Another workspace already has this name (names select workspaces in commands, so they should differ)."""

    def __init__(self, name: str, existing: list):
        self.existing = existing
        super().__init__(f"A workspace named {name!r} already exists ({', '.join(map(str, existing))}).")


@transaction.atomic
def workspace_create(*, name: str, admin) -> tuple[Workspace, str]:
    """A workspace with `admin` as its first admin and a token of theirs for it (the plaintext, once)."""
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=admin, role=Role.ADMIN)
    _token, plaintext = api_token_create(workspace=workspace, user=admin, name="bootstrap")
    return workspace, plaintext


@transaction.atomic
def workspace_bootstrap(*, name: str, email: str, allow_duplicate_name: bool = False) -> tuple[Workspace, object, str]:
    """A workspace with `email` as its admin and a fresh token; creates the user if needed.

    Raises DuplicateWorkspaceName when the name is taken, unless `allow_duplicate_name`.
    """
    existing = list(Workspace.objects.filter(name=name).values_list("pk", flat=True))
    if existing and not allow_duplicate_name:
        raise DuplicateWorkspaceName(name, existing)
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_model.objects.create_user(username=email, email=email)
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    _token, plaintext = api_token_create(workspace=workspace, user=user, name="bootstrap")
    return workspace, user, plaintext
