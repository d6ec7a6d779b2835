"""The audit ledger: every decision in SQL, an RFC 6962 Merkle tree and signed checkpoints."""
