"""Connect with OAuth in the admin: "Connect with <vendor>" on the add-connection page, "Re-authorise" on a
connection's page, and the landing the vendor's redirect returns to. The same services as the API
(`oauth_authorize` / `oauth_callback`); the return target is the admin's own page, so it needs no allow-list.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.runtime.registry import get_connector_class, oauth_types, provider_for
from workspaces.models import Workspace

from ..errors import InvalidInput
from ..models import Connection
from ..services import oauth, oauth_apps

CONNECT_TEMPLATE = "admin/destinations/connection/oauth_connect.html"
LIFECYCLE_FIELDS = (
    "authorized_by",
    "authorized_at",
    "granted_scopes",
    "expires_at",
    "last_refreshed_at",
    "last_refresh_error",
    "refresh_token_expires_at",
    "authorized_account",
)
ERROR_TEXT = {
    "access_denied": "The authorisation was declined on the vendor's page.",
    "missing_scopes": "The vendor granted fewer scopes than this destination type needs",
    "state_expired": "The authorisation took longer than 10 minutes; start again.",
    "state_replayed": "This authorisation was already used; start again.",
    "permission_denied": "You no longer have the permission to connect (it changed after you started).",
}


class ConnectForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.all())
    name = forms.CharField(max_length=200)
    login_url = forms.CharField(required=False)

    def __init__(self, *args, login_hint: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if login_hint:
            self.fields["login_url"].help_text = login_hint
        else:
            del self.fields["login_url"]  # the vendor has one login server


def oauth_type_labels() -> list[tuple[str, str]]:
    return [(name, get_connector_class(name).label) for name in oauth_types()]


def allow_form_to_vendor(response, destination_type: str):
    """The page's form posts here and is redirected to the vendor: CSP form-action must allow the vendor's
    authorisation pages (where the type's provider says they live, after the operator's rebasing)."""
    origins = provider_for(destination_type).form_origins(settings.CONNECTOR_BASE_URLS.get(destination_type))
    return csp_update({"form-action": origins})(lambda: response)()


def _return_url(request) -> str:
    return request.build_absolute_uri(reverse("admin:destinations_connection_oauth_return"))


def _start(request, **kwargs):
    answer = oauth.oauth_authorize(
        actor=request.user,
        redirect_uri=_return_url(request),
        callback_uri=oauth_apps.callback_uri_for(request),
        trusted_redirect=True,
        **kwargs,
    )
    return HttpResponseRedirect(answer["authorization_url"])


@require_http_methods(["GET", "HEAD", "POST"])
def oauth_connect(request, model_admin, destination_type):
    provider = provider_for(destination_type)
    if provider is None:
        raise Http404("Not an OAuth destination type.")
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    label = get_connector_class(destination_type).label
    login_hint = provider.login.hint if provider.login else ""
    form = ConnectForm(request.POST or None, initial={"name": label}, login_hint=login_hint)
    if request.method == "POST" and form.is_valid():
        try:
            return _start(
                request,
                workspace=form.cleaned_data["workspace"],
                destination_type=destination_type,
                name=form.cleaned_data["name"],
                login_url=form.cleaned_data.get("login_url") or None,
            )
        except InvalidInput as exc:
            for path_, errors in exc.errors.items():
                form.add_error(path_ if path_ in form.fields else None, " ".join(errors))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Connect with {label}",
        "form": form,
        "destination_type": destination_type,
    }
    return allow_form_to_vendor(TemplateResponse(request, CONNECT_TEMPLATE, context), destination_type)


@require_POST
def oauth_reauthorise(request, model_admin, object_id):
    connection = model_admin.get_object(request, str(object_id))
    if connection is None:
        raise Http404("Connection not found.")
    if not model_admin.has_change_permission(request, connection):
        raise PermissionDenied
    try:
        return _start(
            request,
            workspace=connection.workspace,
            destination_type=connection.destination_type,
            connection_id=connection.pk,
        )
    except InvalidInput as exc:
        messages.error(request, "; ".join(" ".join(m) for m in exc.errors.values()))
        return HttpResponseRedirect(reverse("admin:destinations_connection_change", args=[connection.pk]))


@require_GET
def oauth_return(request, model_admin):
    """Where the callback sends the admin back: the connection's page, or the add page with the error."""
    error, connection_id = request.GET.get("error", ""), request.GET.get("connection_id", "")
    connection = None
    if connection_id:
        connection = model_admin.get_object(request, connection_id)  # None when unknown or not an id
        if connection is None:
            raise Http404("Connection not found.")
        if not model_admin.has_view_permission(request, connection):
            raise PermissionDenied
    if error:
        text = ERROR_TEXT.get(error, f"The authorisation failed ({error}).")
        if error == "missing_scopes":
            text += f": {request.GET.get('missing_scopes', '')}. Grant them on the consent page and try again."
        messages.error(request, text)
    elif connection is not None:
        messages.success(request, f"Connected {connection.name}; its tokens are stored encrypted.")
    if connection is not None:
        return HttpResponseRedirect(reverse("admin:destinations_connection_change", args=[connection.pk]))
    return HttpResponseRedirect(reverse("admin:destinations_connection_add"))


class OAuthConnectionAdminMixin:
    """Adds the OAuth pages and the token lifecycle to ConnectionAdmin."""

    change_form_template = "admin/destinations/connection/change_form.html"
    oauth_readonly_fields = LIFECYCLE_FIELDS

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "oauth/<str:destination_type>/connect/",
                wrap(lambda request, destination_type: oauth_connect(request, self, destination_type)),
                name="destinations_connection_oauth_connect",
            ),
            path(
                "oauth/return/",
                wrap(lambda request: oauth_return(request, self)),
                name="destinations_connection_oauth_return",
            ),
            path(
                "<path:object_id>/oauth/reauthorise/",
                wrap(lambda request, object_id: oauth_reauthorise(request, self, object_id)),
                name="destinations_connection_oauth_reauthorise",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        chosen = request.GET.get("destination_type", "")
        context["oauth_types"] = [(t, label) for t, label in oauth_type_labels() if add and t == chosen]
        context["oauth_reauthorise"] = obj is not None and provider_for(obj.destination_type) is not None
        response = super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
        return allow_form_to_vendor(response, obj.destination_type) if context["oauth_reauthorise"] else response

    @staticmethod
    def oauth_fieldsets(obj) -> list:
        return [("OAuth token", {"fields": LIFECYCLE_FIELDS})] if provider_for(obj.destination_type) else []

    @staticmethod
    def granted_scopes(connection: Connection) -> str:
        return " ".join(connection.scopes) or "–"
