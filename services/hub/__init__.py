"""The hub side: enforcer, policy client, audit ledger, views, API and CLI.

It imports ``wire`` and never ``edge``.
"""

__version__ = "0.1.0"
