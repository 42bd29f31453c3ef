"""Middleware that shapes how Django runs a request, rather than what it does."""


def one_thread_per_request(get_response):
    """The last middleware: sync-only and a no-op, so Django runs every middleware above it synchronously.

    WhiteNoise is sync-only, so below it Django ran the other middleware in async mode, and each of Django's
    own (MiddlewareMixin) hopped from the event loop to the request's thread and back for `process_request`
    and again for `process_response`: about fifteen thread hand-offs per request. With this one last,
    the chain runs in one thread, with one hand-off in and one to the view.
    """
    return get_response
