"""Writes for workspaces, members and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .models import ApiToken, Membership, Role, Workspace, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_create(*, workspace: Workspace, user, name: str = "default") -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned here once and never stored."""
    plaintext = ApiToken.generate_plaintext()
    token = ApiToken.objects.create(
        workspace=workspace,
        user=user,
        name=name,
        digest=hash_token(plaintext),
        display_prefix=plaintext[:10],
    )
    return token, plaintext


def api_token_touch(token: ApiToken) -> None:
    """Record use, at most once a minute, so authentication does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


class DuplicateWorkspaceName(ValueError):
    """Another workspace already has this name (names select workspaces in commands, so they should differ)."""

    def __init__(self, name: str, existing: list):
        self.existing = existing
        super().__init__(f"A workspace named {name!r} already exists ({', '.join(map(str, existing))}).")


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
