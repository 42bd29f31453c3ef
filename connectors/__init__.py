"""Connector adapters, one module per destination type, and the runtime they share.

This package knows nothing of Django: it takes configs and yields step results.
"""
