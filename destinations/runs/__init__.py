"""One connection test: the service (prepare, execute, reap), its runtime, and the status it records."""
