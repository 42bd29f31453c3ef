"""Middleware that shapes how Django runs a request, rather than what it does."""

from workspaces.client_address import client_address


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
