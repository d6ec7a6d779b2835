"""The enforcer: verify, decide, transform, share and audit every raw event.

``core`` does the work on one message, ``decisions`` asks OPA (with a cache
per policy revision), ``records`` spells the output formats and ids, and
``app`` runs it all as a faust-streaming app (``svdhub enforcer run``).
"""
