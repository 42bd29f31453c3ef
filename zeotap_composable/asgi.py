"""ASGI entry point: the server for SSE connection tests (uvicorn zeotap_composable.asgi:application)."""

import logging
import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from zeotap_composable.body_limit import bounded_body

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeotap_composable.settings")
django_application = bounded_body(get_asgi_application())  # a body ends one byte past the limit
if settings.DEBUG:
    django_application = ASGIStaticFilesHandler(django_application)  # admin CSS/JS in development, as runserver would


async def application(scope, receive, send):
    """Django's ASGI app, plus the lifespan protocol Django does not speak (which uvicorn otherwise reports,
    "ASGI 'lifespan' protocol appears unsupported", at every start). There is nothing to start or stop."""
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


from destinations.schedule.tick import start_embedded_scheduler  # noqa: E402  (needs the app registry loaded)
from zeotap_composable.observability import AccessLogRedactor  # noqa: E402

# uvicorn's access log prints query strings: no authorization code or token may reach it.
logging.getLogger("uvicorn.access").addFilter(AccessLogRedactor())

start_embedded_scheduler()  # the embedded runtime's health checks and notifications (one process ticks)
