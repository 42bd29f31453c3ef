"""Django admin for workspaces, their members and API tokens.

A token is created with `workspaces.services.api_token_create`; its plaintext is shown once, on the page
that answers the create (never stored, never put in a message or the log), and only its prefix after that.
Tokens are revoked, not edited.
"""

from __future__ import annotations

import contextlib
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from .models import ApiToken, Membership, User, Workspace
from .services import api_token_create


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


class ApiTokenInline(admin.TabularInline):
    """The workspace's tokens, read-only (create and revoke them on the token pages)."""

    model = ApiToken
    extra = 0
    fields = ("name", "user", "display_prefix", "created_at", "last_used_at", "state")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        return _token_state(token)


def _active_tokens() -> Q:
    unexpired = Q(api_tokens__expires_at__isnull=True) | Q(api_tokens__expires_at__gt=timezone.now())
    return Q(api_tokens__revoked_at__isnull=True) & unexpired


def _token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
    if not token.is_active:
        return f"expired {token.expires_at:%Y-%m-%d %H:%M}"
    return "active" if token.expires_at is None else f"active until {token.expires_at:%Y-%m-%d %H:%M}"


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "members", "active_tokens", "destinations", "created_at")
    search_fields = ("name",)
    search_help_text = "Search by name, or paste a workspace id."
    readonly_fields = ("id", "created_at", "create_token")
    fields = ("id", "name", "created_at", "create_token")
    inlines = (MembershipInline, ApiTokenInline)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                members_total=Count("memberships", distinct=True),
                active_tokens_total=Count("api_tokens", filter=_active_tokens(), distinct=True),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        with contextlib.suppress(ValueError):
            results |= queryset.filter(pk=uuid.UUID(search_term.strip()))
        return results, may_have_duplicates

    @admin.display(description="Members", ordering="members_total")
    def members(self, workspace: Workspace) -> int:
        return workspace.members_total

    @admin.display(description="Active API tokens", ordering="active_tokens_total")
    def active_tokens(self, workspace: Workspace) -> int:
        return workspace.active_tokens_total

    @admin.display(description="Destinations")
    def destinations(self, workspace: Workspace):
        """The destination list filtered to this workspace: its filter lists only the first workspaces by name."""
        url = reverse("admin:destinations_destination_changelist") + f"?workspace__id__exact={workspace.pk}"
        return format_html('<a href="{}">Destinations</a>', url)

    @admin.display(description="API tokens")
    def create_token(self, workspace: Workspace):
        if workspace._state.adding:
            return "Save the workspace first."
        url = reverse("admin:workspaces_apitoken_add") + f"?workspace={workspace.pk}"
        return format_html('<a class="button" href="{}">Create an API token</a>', url)


class ApiTokenCreateForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("workspace", "user", "name", "expires_at")

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("This time is past: give a future one, or none for a token that never expires.")
        return expires_at

    def clean(self):
        cleaned = super().clean()
        workspace, user = cleaned.get("workspace"), cleaned.get("user")
        if workspace and user and not Membership.objects.filter(workspace=workspace, user=user).exists():
            self.add_error("user", "This user is not a member of the workspace; add the membership first.")
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "user", "display_prefix", "created_at", "last_used_at", "state")
    list_filter = ("workspace",)
    list_select_related = ("workspace", "user")
    search_fields = ("name", "display_prefix", "user__username", "user__email", "workspace__name")
    actions = ("revoke",)
    autocomplete_fields = ("user",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("workspace", "user", "name", "expires_at")
        return ("name", "workspace", "user", "display_prefix", "created_at", "last_used_at", "expires_at", "state")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("workspace", "user", "display_prefix", "created_at", "last_used_at", "expires_at", "state")

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        return _token_state(token)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        token, plaintext = api_token_create(
            workspace=obj.workspace, user=obj.user, name=obj.name, expires_at=obj.expires_at
        )
        obj.__dict__.update(token.__dict__)
        request._api_token_plaintext = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        """The one page that shows the plaintext: not cached, not in a message or a redirect."""
        plaintext = getattr(request, "_api_token_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "plaintext": plaintext,
            "workspace_url": reverse("admin:workspaces_workspace_change", args=[obj.workspace_id]),
            "token_url": reverse("admin:workspaces_apitoken_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, "admin/workspaces/apitoken/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(permissions=["change"], description="Revoke selected API tokens")
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoke()
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API token{'s' if revoked != 1 else ''}.", messages.SUCCESS)


class UserMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("workspace",)
    fields = ("workspace", "role", "created_at")
    readonly_fields = ("created_at",)


class UserCreationForm(auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    inlines = (UserMembershipInline,)
    list_display = ("username", "email", "is_staff", "is_superuser", "is_active", "last_login")
