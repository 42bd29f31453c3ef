"""The admin's pages as a browser needs them: no script the Content-Security-Policy blocks, no nested form,
connector help texts without Markdown marks, an icon, a notification URL field wide enough for a URL."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from connectors.runtime.registry import connector_classes
from destinations.admin.config_editor import editor_schema
from destinations.models import TestJob
from destinations.services.notifications import workspace_monitoring_update
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


class Page(HTMLParser):
    """The scripts the CSP would block (inline without a nonce, inline handlers) and forms inside forms."""

    def __init__(self, html: str):
        super().__init__()
        self.blocked: list[str] = []
        self.nested_forms: list[str] = []
        self.forms_open = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.blocked += [f"{tag} {name}" for name in attrs if name.startswith("on")]
        if tag == "script" and "src" not in attrs and "nonce" not in attrs and attrs.get("type") != "application/json":
            self.blocked.append("inline script")
        if tag == "form":
            if self.forms_open:
                self.nested_forms.append(attrs.get("id", "?"))
            self.forms_open += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self.forms_open -= 1


def test_the_progress_page_runs_no_inline_script(staff):
    job = TestJob.objects.create(workspace=WorkspaceFactory(), trigger="admin")
    html = staff.get(f"/admin/destinations/testjob/progress/?job={job.pk}").content.decode()
    assert Page(html).blocked == []
    assert "destinations/job_progress.js" in html


def test_the_rotate_form_is_not_inside_the_change_form(staff):
    monitoring, _ = workspace_monitoring_update(
        workspace=WorkspaceFactory(), check_interval_minutes=None, notification_url="https://hooks.example.com/n"
    )
    page = staff.get(f"/admin/destinations/workspacemonitoring/{monitoring.pk}/change/")
    parsed = Page(page.content.decode())
    assert 'form="rotate-secret"' in page.content.decode() and 'id="rotate-secret"' in page.content.decode()
    assert parsed.nested_forms == [] and parsed.blocked == []
    assert "#id_notification_url { width: min(48em, 100%); }" in page.content.decode()


@pytest.mark.parametrize("type_key", sorted(connector_classes()))
def test_config_help_texts_have_no_markdown_marks(type_key):
    schema = editor_schema(connector_classes()[type_key])
    texts = [schema["description"]] + [
        field.get("help_text", field.get("description", "")) for field in schema["properties"].values()
    ]
    assert not any("`" in text for text in texts)


def test_type_descriptions_show_code_spans_as_code(staff):
    html = staff.get("/admin/destinations/destination/add/").content.decode()
    choices = html[html.index('id="type-choices"') :]
    assert "`" not in choices
    assert "<code>webhook-signature: v1,&lt;base64 HMAC-SHA256&gt;</code>" in choices


def test_every_page_links_an_icon_that_is_served(staff):
    html = staff.get("/admin/").content.decode()
    assert '<link rel="icon" href="/static/favicon.ico"' in html
    assert staff.get("/static/favicon.ico").status_code == 200
    redirect = staff.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect["Location"] == "/static/favicon.ico"
