"""The audit ledger: every decision in SQL, an RFC 6962 Merkle tree, C2SP
checkpoints and partners' witnesses.

Threat model
------------
**The hub's operator** runs the ledger's database and holds the audit key
(``$SVDHUB_HOME/keys/audit``). Alone, they can:

* change, delete, insert or reorder rows, and recompute every leaf hash;
* cut the newest rows off, with their checkpoints;
* sign new checkpoints over any of that with the audit key;
* show one history to one partner and another to another.

``audit verify`` on the database alone catches edits that do not go as far
as re-signing (each row against its leaf hash and copied columns, each
checkpoint against the recomputed root and the one before it). It cannot
catch a consistent rewrite re-signed with the audit key: that is what the
rest is for.

**Partners' witnesses** (``hub.audit.witness``, ``svdhub audit witness``)
each keep the last checkpoint they co-signed, on their own machine. A
witness co-signs a newer checkpoint only if an RFC 6962 consistency proof
shows that it extends the one it kept, so after a quorum of witnesses
co-signed a tree:

* removing or changing a decision in it, truncating it, or re-signing it is
  refused by every later run of those witnesses (with the evidence kept:
  both checkpoints and the proof), and their cosignatures no longer verify
  over the rewritten checkpoints, so ``audit verify --witness ... --quorum N``
  fails;
* a split view needs every witness fooled the same way; comparing the
  witnesses' kept checkpoints (``verify --checkpoint``) shows it.

**Pinned keys.** Partners pin the log's verifier key (``audit public-key``),
and the hub pins it too (``$SVDHUB_AUDIT_VERIFIER_KEY``): the ledger refuses
to start with any other key or origin. Witness keys are the partners' own;
the hub never holds them.

**What no witness proves:** that a record says what happened. The enforcer
signs every record and the ledger seals only those; a witness vouches for
append-only growth of what was sealed.
"""
