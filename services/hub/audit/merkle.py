"""RFC 6962 Merkle trees (as restated in RFC 9162 §2.1): hashes, roots and proofs.

A leaf hash is ``SHA-256(0x00 || data)`` and an interior node
``SHA-256(0x01 || left || right)``. The tree over n leaves splits at the
largest power of two below n, so a tree only ever grows on the right, and two
sizes of one log can be shown consistent with a short proof.

Everything here is pure and works on leaf *hashes*, so the ledger can keep
them and never re-read a record to extend the tree. :class:`Frontier` holds
the roots of the perfect subtrees of a growing tree (at most log2(n) of them),
which is all that appending needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """A growing tree's perfect-subtree roots, largest (leftmost) first.

    ``on_node(start, count, hash)``, if given, is told of every perfect subtree
    the tree completes (a leaf is one of one), so a single pass over the leaves
    can collect the nodes proofs need (:class:`Nodes`)."""

    def __init__(self, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (number of leaves, hash)
        self._on_node = on_node

    def append(self, leaf: bytes) -> None:
        self.size += 1
        count, node = 1, leaf
        tell = self._on_node
        if tell is not None:
            tell(self.size - 1, 1, leaf)
        while self._stack and self._stack[-1][0] == count:
            left_count, left = self._stack.pop()
            count, node = left_count + count, node_hash(left, node)
            if tell is not None:
                tell(self.size - count, count, node)
        self._stack.append((count, node))

    def copy(self) -> Frontier:
        twin = Frontier(self._on_node)
        twin.size, twin._stack = self.size, list(self._stack)
        return twin

    def root(self) -> bytes:
        """The tree hash of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def _subtree(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    k = _split(end - start)
    return node_hash(_subtree(leaves, start, start + k), _subtree(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over all of ``leaves``."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    start, end = 0, len(leaves)
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(_subtree(leaves, start + k, end))
            end = start + k
        else:
            path.append(_subtree(leaves, start, start + k))
            start += k
    return list(reversed(path))


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``path`` proves ``leaf`` at ``index`` in a tree
    of ``size`` leaves with root ``expected_root``."""
    if not 0 <= index < size:
        return False
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == expected_root


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 6962 §2.1.2: the proof that the first ``old_size`` leaves' tree is a
    prefix of the tree over all of ``leaves``."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"old size {old_size} must be in 1..{len(leaves)}")
    return _subproof(leaves, old_size, 0, len(leaves), True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [_subtree(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves, m, start, start + k, whole), _subtree(leaves, start + k, end)]
    return [*_subproof(leaves, m - k, start + k, end, False), _subtree(leaves, start, start + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows the tree of ``old_size`` with
    ``old_root`` is a prefix of the tree of ``new_size`` with ``new_root``."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    nodes = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        nodes.insert(0, old_root)
    if not nodes:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# ---------------------------------------------------------------------- proofs from a stream
#
# A proof is a list of subtree hashes, each over a range of leaves. The
# functions below name those ranges, so a log of a million rows can build a
# proof in one streaming pass over its leaf hashes (``Nodes``), holding only
# the O(log n) nodes it needs, instead of loading every leaf into memory.

Range = tuple[int, int]  # [start, end) of leaf positions


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes make the audit path of leaf ``index`` (RFC 9162
    §2.1.3.1), in proof order."""
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} is not in a tree of {size}")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return list(reversed(path))


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose hashes make the consistency proof from ``old_size`` to
    ``new_size`` (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"old size {old_size} must be in 1..{new_size}")
    ranges: list[Range] = []
    m, start, end, whole = old_size, 0, new_size, True
    tail: list[Range] = []
    while True:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            tail.append((start + k, end))
            end = start + k
        else:
            tail.append((start, start + k))
            m -= k
            start += k
            whole = False
    return ranges + list(reversed(tail))


def pieces(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees (start, count) a proof's range is built from, left
    first: the range's tree is their fold from the right."""
    found = []
    while start < end:
        count = 1 << ((end - start).bit_length() - 1)
        while start % count:
            count >>= 1
        found.append((start, count))
        start += count
    return found


class Nodes:
    """Collects, from one pass over the leaves, the subtree hashes of ``ranges``.

    Pass :meth:`seen` as a :class:`Frontier`'s ``on_node``, append every leaf up
    to the largest range's end, then read :meth:`hash` of each range."""

    def __init__(self, ranges: Iterable[Range]) -> None:
        self._wanted = {piece for start, end in ranges for piece in pieces(start, end)}
        self._found: dict[tuple[int, int], bytes] = {}

    def seen(self, start: int, count: int, node: bytes) -> None:
        if (start, count) in self._wanted:
            self._found[(start, count)] = node

    def hash(self, start: int, end: int) -> bytes:
        try:
            parts = [self._found[piece] for piece in pieces(start, end)]
        except KeyError as exc:
            raise ValueError(f"leaves {start}..{end - 1} were not all seen") from exc
        node = parts[-1]
        for left in reversed(parts[:-1]):
            node = node_hash(left, node)
        return node


def stream_proof(leaves: Iterable[bytes], ranges: Sequence[Range]) -> list[bytes]:
    """The hashes of ``ranges`` from the leaves in order (read up to the last
    range's end): with :func:`inclusion_ranges` or :func:`consistency_ranges`,
    an RFC 6962 proof without holding the tree in memory."""
    nodes = Nodes(ranges)
    frontier = Frontier(nodes.seen)
    needed = max((end for _, end in ranges), default=0)
    for leaf in leaves:
        if frontier.size >= needed:
            break
        frontier.append(leaf)
    if frontier.size < needed:
        raise ValueError(f"the proof needs {needed} leaves, only {frontier.size} were given")
    return [nodes.hash(start, end) for start, end in ranges]
