"""Every Kafka topic name the hub uses, spelt once.

* ``svd.raw.<authority>.<event_type>``: written only by that authority's connector.
* ``svd.shared.<recipient>.<event_type>``: written by the enforcer, read by the recipient.
* ``svd.audit.decisions``, ``svd.quarantine``, ``svd.policy.revisions``: hub-internal.
"""

from __future__ import annotations

AUDIT_DECISIONS = "svd.audit.decisions"
QUARANTINE = "svd.quarantine"
POLICY_REVISIONS = "svd.policy.revisions"

#: Used by ``svdhub demo`` to prove a produce/consume round trip before any
#: authority publishes.
DEMO_ROUNDTRIP = "svd.demo.roundtrip"
