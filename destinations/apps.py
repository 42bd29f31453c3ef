from django.apps import AppConfig


class DestinationsConfig(AppConfig):
    name = "destinations"
    verbose_name = "Destinations"

    def ready(self):
        from . import checks  # noqa: F401  (registers the API-version sunset check)
        from .api import openapi  # noqa: F401  (registers the bearer-token scheme with drf-spectacular)
