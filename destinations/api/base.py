"""The one base view every workspace endpoint uses: authentication, workspace scoping and roles."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from workspaces.access import WORKSPACE_HEADER, require_write, workspace_membership
from workspaces.authentication import StaffSessionAuthentication

from .stream_tokens import StreamGrant

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class WorkspaceScopedView(APIView):
    """Resolves `self.workspace` and `self.membership` before any handler runs; subclasses cannot skip it.

    Reads need membership; anything else (writes, connection tests) needs the admin or editor role, unless
    the view only reads (`reads_only`: a POST that changes nothing, such as asking for a stream token).
    """

    workspace = None
    membership = None
    reads_only = False

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication (401) and IsAuthenticated
        header_value = request.headers.get(WORKSPACE_HEADER)
        if isinstance(request.auth, StreamGrant):  # an EventSource sends no headers; the token names its workspace
            header_value = header_value or str(request.auth.workspace_id)
        self.membership = workspace_membership(
            user=request.user,
            auth=request.auth,
            workspace_id=kwargs["workspace_id"],
            header_value=header_value,
            staff_session=isinstance(request.successful_authenticator, StaffSessionAuthentication),
        )
        self.workspace = self.membership.workspace
        if request.method not in SAFE_METHODS and not self.reads_only:
            require_write(self.membership)


class JSONErrorsNegotiation(BaseContentNegotiation):
    """SSE endpoints answer a stream, or a JSON error whatever the Accept header said."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return JSONRenderer(), JSONRenderer.media_type
