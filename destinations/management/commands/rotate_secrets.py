"""Re-encrypt every stored secret under the first key of SECRETS_ENCRYPTION_KEYS."""

from django.db import transaction

from destinations.models import Connection, Destination
from workspaces.management.scripting import ScriptableCommand


class Command(ScriptableCommand):
    help = (
        "Re-encrypt all destination secrets and connection credentials under the first key of "
        "SECRETS_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, run this, then drop them."
    )

    def handle(self, *args, **options):
        summary = ", ".join(
            f"{self._rotate(model, column)} {model._meta.verbose_name_plural}"
            for model, column in ((Destination, "secrets"), (Connection, "credentials"))
        )
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the secrets of {summary}."))

    @staticmethod
    @transaction.atomic
    def _rotate(model, column: str) -> int:
        """Loading decrypts with whichever key fits; writing encrypts with the first key."""
        rotated = 0
        for pk, value in model.objects.select_for_update().values_list("pk", column).iterator(chunk_size=500):
            model.objects.filter(pk=pk).update(**{column: value})
            rotated += 1
        return rotated
