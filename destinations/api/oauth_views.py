"""Connect with OAuth over the API: start an authorisation, the vendor's redirect target, refresh, own apps."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from workspaces.models import Role
from workspaces.throttling import VENDOR_CALL_THROTTLES

from .. import selectors
from ..models import AuditVia
from ..services import oauth, oauth_apps, oauth_tokens
from .base import WorkspaceScopedView
from .docs import ERRORS, WORKSPACE_HEADER_PARAM
from .serializers import (
    ConnectionSerializer,
    OAuthAppDescriptionSerializer,
    OAuthAppSerializer,
    OAuthAuthorizationSerializer,
    OAuthAuthorizeSerializer,
    VendorErrorSerializer,
)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connections"])
class OAuthAuthorizeView(WorkspaceScopedView):
    throttle_classes = VENDOR_CALL_THROTTLES  # each call records a pending authorisation

    @extend_schema(
        operation_id="connections_oauth_authorize",
        summary="Start Connect with OAuth: the vendor's authorisation URL (state valid 10 minutes, single use)",
        description="Send the user's browser to `authorization_url`. After consent the vendor redirects to "
        "`/oauth/callback`, which saves the tokens encrypted in a connection (new, named `name`, or "
        "`connection_id` re-authorised in place) and redirects to `redirect_uri` with `connection_id`, or with "
        "`error` (access_denied, invalid_state, state_expired, state_replayed, missing_scopes with "
        "`missing_scopes`, token_exchange_failed, vendor_unreachable, permission_denied when the starter is no "
        "longer an admin or editor of the workspace…).",
        request=OAuthAuthorizeSerializer,
        responses={200: OAuthAuthorizationSerializer, **ERRORS},
    )
    def post(self, request, workspace_id, destination_type):
        serializer = OAuthAuthorizeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = oauth.oauth_authorize(
            workspace=self.workspace,
            actor=request.user,
            destination_type=destination_type,
            callback_uri=oauth_apps.callback_uri_for(request),
            **serializer.validated_data,
        )
        return Response(OAuthAuthorizationSerializer(answer).data)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connections"])
class OAuthRefreshView(WorkspaceScopedView):
    throttle_classes = VENDOR_CALL_THROTTLES

    @extend_schema(
        operation_id="connections_oauth_refresh",
        summary="Renew an OAuth connection's access token now",
        request=None,
        responses={
            200: ConnectionSerializer,
            502: OpenApiResponse(
                VendorErrorSerializer,
                description="The vendor refused; `token_expired` (the grant was revoked: every destination of the "
                "connection is now in error) means re-authorise.",
            ),
            **ERRORS,
        },
    )
    def post(self, request, workspace_id, connection_id):
        connection = selectors.connection_get(workspace=self.workspace, connection_id=connection_id)
        return Response(ConnectionSerializer(oauth_tokens.connection_token_refresh(connection=connection)).data)


@extend_schema(parameters=[WORKSPACE_HEADER_PARAM], tags=["connections"])
class OAuthAppView(WorkspaceScopedView):
    @extend_schema(
        operation_id="oauth_apps_get",
        summary="Which OAuth app Connect uses for a type: the workspace's own (since when, by whom) or the "
        "deployment's; never its secret",
        responses={200: OAuthAppDescriptionSerializer, **ERRORS},
    )
    def get(self, request, workspace_id, destination_type):
        answer = oauth_apps.oauth_app_describe(workspace=self.workspace, destination_type=destination_type)
        return Response(OAuthAppDescriptionSerializer(answer).data)

    @extend_schema(
        operation_id="oauth_apps_set",
        summary="Bring the workspace's own OAuth app for a type (used instead of the deployment's); admins only",
        description="Every later Connect of this type uses the app, so only a workspace admin may set it. The "
        "change enters the audit history (the secret by name only).",
        request=OAuthAppSerializer,
        responses={200: OAuthAppDescriptionSerializer, **ERRORS},
    )
    def put(self, request, workspace_id, destination_type):
        if self.membership.role != Role.ADMIN:
            raise PermissionDenied(
                f"Only a workspace admin may set the workspace's OAuth app (every later Connect uses it); the "
                f"{self.membership.role} role may not. Ask an admin of the workspace."
            )
        serializer = OAuthAppSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        oauth_apps.oauth_app_set(
            workspace=self.workspace,
            actor=request.user,
            via=AuditVia.API,
            destination_type=destination_type,
            **serializer.validated_data,
        )
        answer = oauth_apps.oauth_app_describe(workspace=self.workspace, destination_type=destination_type)
        return Response(OAuthAppDescriptionSerializer(answer).data)


ERROR_PAGE = """<!doctype html><html><head><title>Authorisation failed</title></head>
<body><h1>Authorisation failed</h1><p id="error">{error}</p>
<p>This authorisation link is not valid. Start again from the application.</p></body></html>"""


@never_cache
@require_GET
def oauth_callback(request):
    """The redirect URI registered with the vendors. Without a valid state there is nowhere safe to redirect."""
    user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    outcome = oauth.oauth_callback(params=request.GET.dict(), session_user=user)
    if outcome.redirect_url is None:
        return HttpResponse(ERROR_PAGE.format(error=escape(outcome.error)), status=400)
    response = HttpResponseRedirect(outcome.redirect_url)
    response["Referrer-Policy"] = "no-referrer"  # the vendor's code is in this URL
    return response
