from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from destinations.api import errors as api_errors

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("destinations.api.urls")),
    re_path(r"^api/", api_errors.api_not_found),
]

handler400 = api_errors.api_bad_request
handler500 = api_errors.api_server_error
