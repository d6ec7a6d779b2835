"""RFC 6962 trees: known answers, and proofs that check out and fail when they must."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from hub.audit import merkle


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"record {i}".encode()) for i in range(n)]


def frontier_root(hashes: list[bytes]) -> bytes:
    """The root the ledger computes, by appending to a frontier."""
    frontier = merkle.Frontier()
    for leaf in hashes:
        frontier.append(leaf)
    return frontier.root()


def reference_root(hashes: list[bytes]) -> bytes:
    """The recursive definition, straight from RFC 6962 §2.1."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return merkle.node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def test_known_answers_from_the_rfc_test_vectors() -> None:
    # The empty tree, and a tree of one empty leaf (certificate-transparency test data).
    assert frontier_root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@given(st.integers(min_value=0, max_value=70))
def test_frontier_root_equals_the_definition(n: int) -> None:
    assert frontier_root(leaves(n)) == reference_root(leaves(n))


@given(st.integers(min_value=1, max_value=40), st.data())
def test_inclusion_proofs_check_out_and_fail_when_altered(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    root = frontier_root(hashes)
    path = merkle.inclusion_proof(hashes, index)
    assert merkle.verify_inclusion(hashes[index], index, n, path, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, n, path, root)
    if n > 1:
        other = (index + 1) % n
        assert not merkle.verify_inclusion(hashes[index], other, n, path, root)
    if path:
        bent = [bytes(32), *path[1:]]
        assert not merkle.verify_inclusion(hashes[index], index, n, bent, root)


@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs_check_out_and_fail_when_history_changes(
    n: int, data: st.DataObject
) -> None:
    hashes = leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = merkle.consistency_proof(hashes, m)
    old, new = frontier_root(hashes[:m]), frontier_root(hashes)
    assert merkle.verify_consistency(m, n, old, new, proof)
    rewritten = [merkle.leaf_hash(b"changed"), *hashes[1:]]
    if m < n:
        assert not merkle.verify_consistency(m, n, frontier_root(rewritten[:m]), new, proof)
        assert not merkle.verify_consistency(m, n, old, frontier_root(rewritten), proof)
