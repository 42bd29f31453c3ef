from django.contrib import admin
from django.urls import include, path, re_path

from destinations.api import errors as api_errors
from destinations.api.openapi import ApiDocsView, CachedSpectacularAPIView, streaming_clients_doc
from zeotap_composable import observability

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", CachedSpectacularAPIView.as_view(), name="schema"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline script.
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/docs/streaming-clients", streaming_clients_doc, name="streaming-clients"),
    path("", include("destinations.api.urls")),
    re_path(r"^api/", api_errors.api_not_found),
]

handler400 = api_errors.api_bad_request
handler500 = api_errors.api_server_error
