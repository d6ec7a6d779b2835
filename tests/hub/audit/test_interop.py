"""The Go cross-check harness itself: Go's notes and cosignatures round-trip and
tampering is refused, and the ledger's RFC 6962 proofs (``hub.audit.merkle``)
verify with transparency-dev/merkle, and fail when corrupted."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit import merkle
from tests.hub.audit.interop import GoChecker, GoUnavailable, HarnessError, Refused, build

pytestmark = pytest.mark.slow  # the first use builds the Go program

LOG = "audit.svdhub.example/ledger"
WITNESS = "witness.partner.example"
ROOT = hashlib.sha256(b"a root").digest()


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"decision {i}".encode()) for i in range(n)]


def root_of(hashes: list[bytes]) -> bytes:
    frontier = merkle.Frontier()
    for leaf in hashes:
        frontier.append(leaf)
    return frontier.root()


def replace_line(note: str, index: int, line: str) -> str:
    lines = note.split("\n")
    lines[index] = line
    return "\n".join(lines)


# ---------------------------------------------------------------- signed notes


def test_a_checkpoint_go_signs_opens_and_parses_in_go(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 42, ROOT, ["time 1700000000"], names=[LOG])
    (key,) = signed.keys
    assert signed.text == f"{LOG}\n42\n{base64.b64encode(ROOT).decode()}\ntime 1700000000\n"
    assert signed.note.startswith(signed.text + "\n— " + LOG + " ")

    opened = go_checker.open_note(signed.note, [key.verifier_key])
    assert (opened.text, opened.verified, opened.unverified) == (signed.text, (LOG,), ())

    parsed = go_checker.parse_checkpoint(signed.note, LOG, key.verifier_key)
    assert (parsed.origin, parsed.size, parsed.root) == (LOG, 42, ROOT)
    assert (parsed.extensions, parsed.rest) == (("time 1700000000",), "time 1700000000\n")


def test_a_given_signer_key_signs_again_with_the_same_verifier_key(go_checker: GoChecker) -> None:
    (key,) = go_checker.sign_note("first\n", names=[LOG]).keys
    again = go_checker.sign_note("second\n", signer_keys=[key.signer_key])
    assert again.keys == (key,)
    assert go_checker.open_note(again.note, [key.verifier_key]).text == "second\n"


def test_a_tampered_note_is_refused(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 42, ROOT, names=[LOG])
    vkey = signed.keys[0].verifier_key
    with pytest.raises(Refused, match="invalid signature"):
        go_checker.open_note(replace_line(signed.note, 1, "43"), [vkey])
    with pytest.raises(Refused, match="invalid signature"):
        go_checker.parse_checkpoint(replace_line(signed.note, 1, "43"), LOG, vkey)

    signature_line = signed.note.split("\n")[-2]
    flipped = (
        signature_line[:-3] + ("A" if signature_line[-3] != "A" else "B") + signature_line[-2:]
    )
    with pytest.raises(Refused, match="invalid signature"):
        go_checker.open_note(signed.note.replace(signature_line, flipped), [vkey])


def test_a_note_by_another_key_is_refused_and_its_signature_listed(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 1, ROOT, names=[LOG])
    (other,) = go_checker.sign_note("other\n", names=[LOG]).keys
    with pytest.raises(Refused, match="no verifiable signatures") as refused:
        go_checker.open_note(signed.note, [other.verifier_key])
    assert [s["name"] for s in refused.value.answer["unverified"]] == [LOG]
    with pytest.raises(Refused):
        go_checker.parse_checkpoint(signed.note, LOG, other.verifier_key)


def test_a_checkpoint_of_another_origin_is_refused(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 1, ROOT, names=[LOG])
    with pytest.raises(Refused, match="Origin"):
        go_checker.parse_checkpoint(signed.note, "another.example/log", signed.keys[0].verifier_key)


# ---------------------------------------------------------------- cosignatures


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 (Ed25519) signs, from the C2SP spec."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def test_a_library_cosignature_verifies_at_the_current_time(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 7, ROOT, names=[LOG])
    before = int(time.time())
    cosigned = go_checker.cosign(signed.note, name=WITNESS)
    assert before - 1 <= cosigned.timestamp <= time.time() + 1

    checked = go_checker.verify_cosignature(cosigned.note, WITNESS, cosigned.public_key)
    assert checked.timestamp == cosigned.timestamp
    assert checked.verifier_key == cosigned.verifier_key
    # The log's signature is kept, and both open together.
    opened = go_checker.open_note(
        cosigned.note, [signed.keys[0].verifier_key, cosigned.verifier_key]
    )
    assert opened.verified == (LOG, WITNESS)


def test_a_cosignature_at_a_given_time_matches_the_spec(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 7, ROOT, names=[LOG])
    cosigned = go_checker.cosign(signed.note, name=WITNESS, timestamp=1_700_000_000)
    assert go_checker.verify_cosignature(cosigned.note, WITNESS, cosigned.public_key).timestamp == (
        1_700_000_000
    )

    # The same bytes, checked here from the spec: key ID, timestamp, Ed25519.
    key_id = hashlib.sha256(WITNESS.encode() + b"\n\x04" + cosigned.public_key).digest()[:4]
    raw = base64.b64decode(cosigned.signature)
    assert raw[:4] == key_id and cosigned.key_id == key_id.hex()
    assert int.from_bytes(raw[4:12], "big") == 1_700_000_000
    Ed25519PublicKey.from_public_bytes(cosigned.public_key).verify(
        raw[12:], cosigned_message(signed.text, 1_700_000_000)
    )
    assert cosigned.verifier_key == (
        f"{WITNESS}+{key_id.hex()}+" + base64.b64encode(b"\x04" + cosigned.public_key).decode()
    )


def test_a_given_cosigner_key_is_used_again(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 7, ROOT, names=[LOG])
    first = go_checker.cosign(signed.note, name=WITNESS, timestamp=1)
    second = go_checker.cosign(signed.note, signer_key=first.signer_key, timestamp=2)
    assert (second.name, second.public_key, second.key_id) == (
        first.name,
        first.public_key,
        first.key_id,
    )
    assert go_checker.verify_cosignature(second.note, WITNESS, first.public_key).timestamp == 2


def test_a_tampered_or_foreign_cosignature_is_refused(go_checker: GoChecker) -> None:
    signed = go_checker.sign_checkpoint(LOG, 7, ROOT, names=[LOG])
    cosigned = go_checker.cosign(signed.note, name=WITNESS, timestamp=1_700_000_000)

    # Another timestamp in the signature: the signed message no longer matches.
    raw = bytearray(base64.b64decode(cosigned.signature))
    raw[11] ^= 1
    forged = cosigned.note.replace(cosigned.signature, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(Refused, match="invalid signature"):
        go_checker.verify_cosignature(forged, WITNESS, cosigned.public_key)

    # The checkpoint changed under the cosignature.
    with pytest.raises(Refused, match="invalid signature"):
        go_checker.verify_cosignature(
            replace_line(cosigned.note, 1, "8"), WITNESS, cosigned.public_key
        )

    # Someone else's key, or the right key under another name.
    other = go_checker.cosign(signed.note, name=WITNESS, timestamp=1)
    with pytest.raises(Refused, match="no verifiable signatures"):
        go_checker.verify_cosignature(cosigned.note, WITNESS, other.public_key)
    with pytest.raises(Refused, match="no verifiable signatures"):
        go_checker.verify_cosignature(cosigned.note, "witness.other", cosigned.public_key)


# ---------------------------------------------------------------- proofs

# Every size up to 33 (every shape of a small tree), then a few larger ones,
# including powers of two and their neighbours.
SIZES = [*range(1, 34), 63, 64, 65, 127, 200, 256, 257, 1000]


def sample(n: int) -> list[int]:
    """Positions to try in a tree of n: all when small, else both ends, the
    split points and a spread between."""
    if n <= 16:
        return list(range(n))
    picks = {0, 1, n - 2, n - 1, n // 2, n // 3}
    picks |= {p for p in (1 << b for b in range(n.bit_length())) if p < n}
    picks |= {p - 1 for p in picks if p > 0}
    return sorted(picks)


def test_the_ledgers_inclusion_proofs_verify_in_go(go_checker: GoChecker) -> None:
    for n in SIZES:
        hashes = leaves(n)
        root = root_of(hashes)
        for index in sample(n):
            proof = merkle.inclusion_proof(hashes, index)
            go_checker.verify_inclusion(index, n, hashes[index], proof, root)


def test_the_ledgers_consistency_proofs_verify_in_go(go_checker: GoChecker) -> None:
    for n in SIZES:
        hashes = leaves(n)
        root = root_of(hashes)
        for old in sample(n + 1)[1:]:  # 1..n
            proof = merkle.consistency_proof(hashes, old)
            go_checker.verify_consistency(old, n, root_of(hashes[:old]), root, proof)


def flip(node: bytes) -> bytes:
    return bytes([node[0] ^ 1]) + node[1:]


def test_a_corrupted_inclusion_proof_fails_in_go(go_checker: GoChecker) -> None:
    hashes = leaves(13)
    root = root_of(hashes)
    proof = merkle.inclusion_proof(hashes, 5)
    go_checker.verify_inclusion(5, 13, hashes[5], proof, root)
    for i in range(len(proof)):
        with pytest.raises(Refused):
            go_checker.verify_inclusion(
                5, 13, hashes[5], [*proof[:i], flip(proof[i]), *proof[i + 1 :]], root
            )
    with pytest.raises(Refused):
        go_checker.verify_inclusion(5, 13, hashes[5], proof[:-1], root)  # a node short
    with pytest.raises(Refused):
        go_checker.verify_inclusion(5, 13, hashes[5], [*proof, ROOT], root)  # a node too many
    with pytest.raises(Refused):
        go_checker.verify_inclusion(4, 13, hashes[5], proof, root)  # another position
    with pytest.raises(Refused):
        go_checker.verify_inclusion(5, 13, hashes[4], proof, root)  # another leaf
    with pytest.raises(Refused):
        go_checker.verify_inclusion(5, 13, hashes[5], proof, flip(root))
    with pytest.raises(Refused):
        go_checker.verify_inclusion(5, 17, hashes[5], proof, root)  # another size


def test_a_corrupted_consistency_proof_fails_in_go(go_checker: GoChecker) -> None:
    hashes = leaves(21)
    old_root, new_root = root_of(hashes[:6]), root_of(hashes)
    proof = merkle.consistency_proof(hashes, 6)
    go_checker.verify_consistency(6, 21, old_root, new_root, proof)
    for i in range(len(proof)):
        with pytest.raises(Refused):
            go_checker.verify_consistency(
                6, 21, old_root, new_root, [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
            )
    with pytest.raises(Refused):
        go_checker.verify_consistency(6, 21, old_root, new_root, proof[:-1])
    with pytest.raises(Refused):
        go_checker.verify_consistency(6, 21, flip(old_root), new_root, proof)
    with pytest.raises(Refused):
        go_checker.verify_consistency(6, 21, old_root, flip(new_root), proof)
    with pytest.raises(Refused):
        go_checker.verify_consistency(7, 21, old_root, new_root, proof)  # another old size
    with pytest.raises(Refused):  # a history that is not a prefix
        go_checker.verify_consistency(
            6, 21, root_of([*leaves(5), ROOT]), new_root, merkle.consistency_proof(hashes, 6)
        )


# ---------------------------------------------------------------- the harness


def test_a_request_the_program_cannot_read_is_a_harness_error(go_checker: GoChecker) -> None:
    with pytest.raises(HarnessError, match="unknown op"):
        go_checker.call({"op": "no_such_op"})
    with pytest.raises(HarnessError, match="missing field"):
        go_checker.call({"op": "verify_inclusion", "leaf_index": 0})
    with pytest.raises(HarnessError, match="unknown field"):
        go_checker.call({"op": "open_note", "note": "", "verifier_keys": [], "extra": 1})


def test_without_go_the_build_says_go_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(GoUnavailable, match="version"):
        build(tmp_path, go=str(tmp_path / "no-go"))
