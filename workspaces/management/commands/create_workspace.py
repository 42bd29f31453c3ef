"""python manage.py create_workspace --name NAME --email EMAIL -> one JSON object on stdout."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from workspaces.services import workspace_bootstrap


class Command(BaseCommand):
    help = "Create a workspace with EMAIL as its admin (creating the user if needed) and an API token."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Workspace name.")
        parser.add_argument("--email", required=True, help="The admin's e-mail; the user is created if needed.")

    def handle(self, *args, name: str, email: str, **options):
        if not name.strip():
            raise CommandError("--name must not be empty.")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email {email!r} is not a valid e-mail address.") from None
        workspace, user, token = workspace_bootstrap(name=name.strip(), email=email)
        self.stdout.write(json.dumps({"workspace_id": str(workspace.pk), "user_id": str(user.pk), "token": token}))
