"""Secrets at rest: Fernet tokens under SECRETS_ENCRYPTION_KEYS (first key encrypts, all decrypt)."""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "SECRETS_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRETS_ENCRYPTION_KEYS))


class SecretDecryptionError(RuntimeError):
    """A stored secret does not open with any configured key; never silently returns ciphertext."""


def encrypt_json(value: dict) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored secret could not be decrypted with SECRETS_ENCRYPTION_KEYS; was a key removed?"
        ) from None


class EncryptedJSONField(models.TextField):
    """A dict stored as one Fernet token; the column never holds plaintext."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_json(value)

    def to_python(self, value):
        if value is None or isinstance(value, dict):
            return value
        return decrypt_json(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_json(value)

    def value_to_string(self, obj):
        return "<encrypted>"
