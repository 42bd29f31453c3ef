"""Middleware that shapes how Django runs a request, rather than what it does."""

import logging

from django.http import HttpResponse, JsonResponse

from destinations.db import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE
from workspaces.client_address import client_address

logger = logging.getLogger(__name__)


def client_address_in_access_log(get_response):
    """uvicorn's access log names the client by the same rule as the rate limits (TRUSTED_PROXIES).

    The log line is written from the ASGI scope the request was built from, so the client is set there; the
    request's own REMOTE_ADDR stays the peer, which `client_address` starts from.
    """

    def middleware(request):
        scope = getattr(request, "scope", None)  # only under ASGI
        if scope is not None and scope.get("client"):
            address = client_address(request)
            if address != scope["client"][0]:
                scope["client"] = (address, 0)
        return get_response(request)

    return middleware


def one_thread_per_request(get_response):
    """The last middleware: sync-only and a no-op, so Django runs every middleware above it synchronously.

    WhiteNoise is sync-only, so below it Django ran the other middleware in async mode, and each of Django's
    own (MiddlewareMixin) hopped from the event loop to the request's thread and back for `process_request`
    and again for `process_response`: about fifteen thread hand-offs per request. With this one last,
    the chain runs in one thread, with one hand-off in and one to the view.
    """
    return get_response


class DatabaseUnavailableAs503:
    """A view that meets the database down or restarting answers 503 with Retry-After, not a 500 page: the
    admin and every other non-API view (the API's own handler does the same, destinations/api/errors.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.warning("%s %s: the database is unavailable (%s)", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": DATABASE_UNAVAILABLE_MESSAGE}, status=503)
        else:
            response = HttpResponse(DATABASE_UNAVAILABLE_MESSAGE, status=503, content_type="text/plain")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
