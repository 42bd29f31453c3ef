"""What the DEBUG error page may show: no request body values and no local variable that can hold a secret."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter

# Locals named like these carry configs, credentials or tokens in clear while a request is served.
SECRET_HOLDERS = re.compile(
    r"config|credential|secret|token|password|passphrase|key|auth|header|body|data|prepared", re.I
)


class RequestDataHiddenFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|REDIS|OAUTH", re.I)

    def is_active(self, request) -> bool:
        return True  # Django's filter is inactive under DEBUG, which is when the page is shown

    def get_post_parameters(self, request):
        if request is None:
            return {}
        return dict.fromkeys(request.POST, self.cleansed_substitute)

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if SECRET_HOLDERS.search(name) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
