"""WSGI entry point. SSE endpoints buffer under WSGI; serve them with the ASGI app."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeotap_composable.settings")
application = get_wsgi_application()

from destinations.schedule.tick import start_embedded_scheduler  # noqa: E402  (needs the app registry loaded)

start_embedded_scheduler()  # the embedded runtime's health checks and notifications (one process ticks)
