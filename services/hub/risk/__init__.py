"""Re-identification risk of record-level shares: k-anonymity over quasi-identifiers.

``classes`` says what a record's equivalence class is (the values of its
fields classified ``quasi_identifier`` in the wire schemas, as the recipient
received them), which records a recipient holds (corrections replace,
retractions withdraw) and how k is measured over a trailing window. The
enforcer counts classes the same way when it applies an agreement's
``min_k`` (``hub.enforcer.kanonymity``), so what it promises is what the
report measures. ``report`` reads what recipients received (the shared
topics, or the views database for the API) and ``cli`` is ``svdhub risk``.
See docs/risk.md.
"""
