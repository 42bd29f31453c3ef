"""python manage.py create_workspace --name NAME --email EMAIL -> one JSON object on stdout.

Exit status 2 when the name is already taken (unless --allow-duplicate-name), 1 for other bad input.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_email

from workspaces.management.scripting import ScriptableCommand
from workspaces.services import DuplicateWorkspaceName, workspace_bootstrap

EXIT_USAGE = 2


class Command(ScriptableCommand):
    help = "Create a workspace with EMAIL as its admin (creating the user if needed) and an API token."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Workspace name.")
        parser.add_argument("--email", required=True, help="The admin's e-mail; the user is created if needed.")
        parser.add_argument(
            "--allow-duplicate-name",
            action="store_true",
            help="Create it even when another workspace has this name (commands then need its id, not the name).",
        )

    def handle(self, *args, name: str, email: str, allow_duplicate_name: bool, **options):
        if not name.strip():
            raise CommandError("--name must not be empty.")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email {email!r} is not a valid e-mail address.") from None
        try:
            workspace, user, token = workspace_bootstrap(
                name=name.strip(), email=email, allow_duplicate_name=allow_duplicate_name
            )
        except DuplicateWorkspaceName as exc:
            raise CommandError(f"{exc} Use another name, or --allow-duplicate-name.", returncode=EXIT_USAGE) from None
        self.stdout.write(json.dumps({"workspace_id": str(workspace.pk), "user_id": str(user.pk), "token": token}))
