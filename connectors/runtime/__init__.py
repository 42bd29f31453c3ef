"""The runtime every adapter shares: the connector contract, the guarded HTTP client, errors, redaction,
the runner, the registry, schema helpers and the OAuth flow. Adapters live one level up, one module a type."""
