"""Development only: a demo workspace and token, created once, printed with a ready-to-paste curl line."""

import json

from django.conf import settings
from django.core.management.base import CommandError

from workspaces.management.scripting import ScriptableCommand
from workspaces.models import Workspace
from workspaces.services import workspace_bootstrap

CREDENTIALS_FILE = settings.LOCAL_DIR / "demo-credentials.json"


class Command(ScriptableCommand):
    help = "Create a demo workspace and API token the first time (DJANGO_DEBUG only) and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, port: int, **options):
        if not settings.DEBUG:
            raise CommandError("demo_workspace is for development (DJANGO_DEBUG=true) only.")
        credentials = self._load()
        if credentials is None:
            workspace, user, token = workspace_bootstrap(
                name="Demo workspace", email="demo@example.com", allow_duplicate_name=True
            )
            credentials = {"workspace_id": str(workspace.pk), "user_id": str(user.pk), "token": token}
            settings.LOCAL_DIR.mkdir(exist_ok=True)
            CREDENTIALS_FILE.write_text(json.dumps(credentials))
            CREDENTIALS_FILE.chmod(0o600)
            self.stdout.write(self.style.SUCCESS("Created a demo workspace and API token."))
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            f"Workspace: {credentials['workspace_id']}\nToken:     {credentials['token']}\n"
            f"(kept in {CREDENTIALS_FILE})\n\nFor the README walkthrough:\n"
            f"  export API={base} WS={credentials['workspace_id']} TOKEN={credentials['token']}\n\nTry:\n"
            f"  curl -s {base}/api/v1/workspaces/{credentials['workspace_id']}/destinations "
            f"-H 'Authorization: Bearer {credentials['token']}' -H 'X-Workspace-ID: {credentials['workspace_id']}'\n"
            f"API docs: {base}/api/docs/\n"
        )

    @staticmethod
    def _load():
        if not CREDENTIALS_FILE.exists():
            return None
        credentials = json.loads(CREDENTIALS_FILE.read_text())
        if not Workspace.objects.filter(pk=credentials["workspace_id"]).exists():
            return None  # the database was reset
        return credentials
