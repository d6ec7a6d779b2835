"""wire.signing: Ed25519 signatures, the key registry and private key files."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.signing import (
    BadSignature,
    KeyRegistry,
    KeyRegistryError,
    PublicKey,
    RevokedKey,
    SignatureError,
    Signer,
    UnknownKey,
    Verifier,
    WrongAuthority,
    format_time,
    generate_signer,
    parse_revocation_time,
)

MESSAGE = bytes(range(200))

SIGNER = generate_signer("wmp-2026-01", "wmp")
VERIFIER = Verifier(KeyRegistry([SIGNER.public_key()]))


#: When the keys revoked in these tests stop verifying.
REVOKED_AT = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)


def revoked(key: PublicKey, reason: str | None = "key leaked") -> PublicKey:
    return PublicKey(key.key_id, key.authority, key.public_key, REVOKED_AT, reason)


def b64_key(size: int = 32) -> str:
    """A real public key's base64, or ``size`` bytes of something else."""
    if size == 32:
        return base64.b64encode(SIGNER.public_key().raw_bytes()).decode("ascii")
    return base64.b64encode(bytes(range(size))).decode("ascii")


# ---------------------------------------------------------------- sign / verify


def test_round_trip_returns_the_key() -> None:
    signature = SIGNER.sign(MESSAGE)
    assert len(signature) == 64
    key = VERIFIER.verify("wmp-2026-01", MESSAGE, signature, authority="wmp")
    assert key == SIGNER.public_key()


def test_flipping_any_byte_of_the_data_fails() -> None:
    signature = SIGNER.sign(MESSAGE)
    for position in range(len(MESSAGE)):
        tampered = bytearray(MESSAGE)
        tampered[position] ^= 0x01
        with pytest.raises(BadSignature):
            VERIFIER.verify(SIGNER.key_id, bytes(tampered), signature)


def test_flipping_any_byte_of_the_signature_fails() -> None:
    signature = SIGNER.sign(MESSAGE)
    for position in range(len(signature)):
        tampered = bytearray(signature)
        tampered[position] ^= 0x01
        with pytest.raises(BadSignature):
            VERIFIER.verify(SIGNER.key_id, MESSAGE, bytes(tampered))


@pytest.mark.parametrize("length", [0, 1, 63, 65])
def test_signature_of_the_wrong_length_fails(length: int) -> None:
    signature = (SIGNER.sign(MESSAGE) * 2)[:length]
    with pytest.raises(BadSignature, match=f"{length} bytes, expected 64") as info:
        VERIFIER.verify(SIGNER.key_id, MESSAGE, signature)
    assert info.value.key_id == SIGNER.key_id


def test_unknown_key_id() -> None:
    with pytest.raises(UnknownKey) as info:
        VERIFIER.verify("nobody-1", MESSAGE, SIGNER.sign(MESSAGE))
    assert info.value.key_id == "nobody-1"
    assert "nobody-1" in str(info.value)


def test_a_revoked_key_verifies_nothing_received_from_its_revocation_on() -> None:
    verifier = Verifier(KeyRegistry([revoked(SIGNER.public_key())]))
    signature = SIGNER.sign(MESSAGE)
    for received in (REVOKED_AT, REVOKED_AT + datetime.timedelta(microseconds=1), None):
        with pytest.raises(RevokedKey) as info:
            verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=received)
        assert info.value.key_id == SIGNER.key_id
        assert "revoked 2026-03-01T09:30:00Z (key leaked)" in str(info.value)


def test_a_revoked_key_still_verifies_what_the_hub_received_before() -> None:
    verifier = Verifier(KeyRegistry([revoked(SIGNER.public_key())]))
    signature = SIGNER.sign(MESSAGE)
    before = REVOKED_AT - datetime.timedelta(microseconds=1)
    assert verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=before).key_id == (
        SIGNER.key_id
    )
    # Any time zone: the instant counts.
    in_paris = (REVOKED_AT - SECOND).astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=in_paris)
    # Revoked or not, the signature must still match.
    with pytest.raises(BadSignature):
        verifier.verify(SIGNER.key_id, MESSAGE + b"x", signature, received_at=before)
    with pytest.raises(ValueError, match="no time zone"):
        verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=before.replace(tzinfo=None))


def test_the_earliest_revocation_wins() -> None:
    key = SIGNER.public_key()
    first = key.revoke(REVOKED_AT + datetime.timedelta(microseconds=999_999), "leaked")
    assert first.revoked_at == REVOKED_AT  # cut to the second, never later
    assert first.revoke(REVOKED_AT + SECOND, "again") == first
    assert first.revoke(REVOKED_AT - SECOND).revoked_at == REVOKED_AT - SECOND
    assert first.revoke(REVOKED_AT - SECOND).revoked_reason == "leaked"
    assert key.revoke(REVOKED_AT).revoke(REVOKED_AT, "found why").revoked_reason == "found why"
    assert key.merge(first) == first and first.merge(key) == first
    with pytest.raises(ValueError, match="not key"):
        key.merge(generate_signer(SIGNER.key_id, "wmp").public_key())
    with pytest.raises(ValueError, match="time zone"):
        key.revoke(datetime.datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="whole seconds"):
        PublicKey(key.key_id, key.authority, key.public_key, REVOKED_AT.replace(microsecond=5))


def test_a_revocation_time_needs_a_time_zone() -> None:
    assert parse_revocation_time("2026-03-01T09:30:00Z") == REVOKED_AT
    assert parse_revocation_time("2026-03-01T10:30:00.7+01:00") == REVOKED_AT
    for bad in ("2026-03-01T09:30:00", "last tuesday", ""):
        with pytest.raises(ValueError):
            parse_revocation_time(bad)
    assert format_time(REVOKED_AT) == "2026-03-01T09:30:00Z"


def test_wrong_authority() -> None:
    with pytest.raises(WrongAuthority) as info:
        VERIFIER.verify(SIGNER.key_id, MESSAGE, SIGNER.sign(MESSAGE), authority="bsol-icb")
    assert info.value.key_id == SIGNER.key_id
    assert "'wmp'" in str(info.value)
    assert "'bsol-icb'" in str(info.value)


def test_a_key_of_another_authority_does_not_verify() -> None:
    other = generate_signer("wmas-2026-01", "wmas")
    verifier = Verifier(KeyRegistry([SIGNER.public_key(), other.public_key()]))
    with pytest.raises(BadSignature):
        verifier.verify(other.key_id, MESSAGE, SIGNER.sign(MESSAGE))


def test_every_error_is_a_signature_error() -> None:
    for error in (UnknownKey, RevokedKey, BadSignature, WrongAuthority):
        assert issubclass(error, SignatureError)


@given(st.binary(max_size=2048))
def test_property_sign_verify(data: bytes) -> None:
    signature = SIGNER.sign(data)
    assert VERIFIER.verify(SIGNER.key_id, data, signature).key_id == SIGNER.key_id
    with pytest.raises(BadSignature):
        VERIFIER.verify(SIGNER.key_id, data + b"x", signature)


# ---------------------------------------------------------------- registry


def test_registry_yaml_round_trip(tmp_path: Path) -> None:
    keys = [
        SIGNER.public_key(),
        revoked(generate_signer("wmp-2025-01", "wmp").public_key(), "rotated: host rebuilt"),
        revoked(generate_signer("wmas-2025-01", "wmas").public_key(), None),
        generate_signer("bsol-icb-2026-01", "bsol-icb").public_key(),
    ]
    registry = KeyRegistry(keys)
    path = tmp_path / "keys.yaml"
    path.write_text(registry.to_yaml(), encoding="utf-8")

    loaded = KeyRegistry.load(path)

    assert loaded.key_ids() == registry.key_ids() == [key.key_id for key in keys]
    assert len(loaded) == 4
    for key in keys:
        assert key.key_id in loaded
        assert loaded.get(key.key_id) == key
    assert "nobody" not in loaded


def test_registry_yaml_is_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "# Public keys of the authorities' connectors.\n"
        "keys:\n"
        "  - key_id: wmp-2026-01\n"
        "    authority: wmp\n"
        f"    public_key: {b64_key()}\n"
        "    revoked_at: '2026-03-01T09:30:00Z'\n"
        "    revoked_reason: key leaked\n",
        encoding="utf-8",
    )
    key = KeyRegistry.load(path).get("wmp-2026-01")
    assert key.authority == "wmp"
    assert key.raw_bytes() == SIGNER.public_key().raw_bytes()
    assert key.revoked_at == REVOKED_AT
    assert key.revoked_reason == "key leaked"
    assert "  revoked_at: '2026-03-01T09:30:00Z'\n" in KeyRegistry([key]).to_yaml()


@pytest.mark.parametrize("written", ["2026-03-01T09:30:00Z", "'2026-03-01T09:30:00Z'"])
def test_revoked_at_reads_quoted_or_not(tmp_path: Path, written: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n" + entry(revoked_at=written), encoding="utf-8")
    assert KeyRegistry.load(path).get("wmp-2026-01").revoked_at == REVOKED_AT


def test_an_old_revoked_on_date_means_midnight_utc(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n" + entry(revoked_on="2026-03-01", revoked_reason="old"), "utf-8")
    key = KeyRegistry.load(path).get("wmp-2026-01")
    midnight = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    assert key.revoked_at == midnight
    verifier = Verifier(
        KeyRegistry(
            [PublicKey(SIGNER.key_id, "wmp", SIGNER.public_key().public_key, key.revoked_at)]
        )
    )
    signature = SIGNER.sign(MESSAGE)
    assert verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=midnight - SECOND)
    with pytest.raises(RevokedKey):
        verifier.verify(SIGNER.key_id, MESSAGE, signature, received_at=midnight)
    # Written back as a revocation time.
    assert "revoked_at: '2026-03-01T00:00:00Z'" in KeyRegistry([key]).to_yaml()


def test_empty_registry_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys: []\n", encoding="utf-8")
    assert len(KeyRegistry.load(path)) == 0


def entry(**fields: str) -> str:
    values = {"key_id": "wmp-2026-01", "authority": "wmp", "public_key": b64_key()} | fields
    lines = [f"    {name}: {value}" for name, value in values.items()]
    lines[0] = "  - " + lines[0].lstrip()
    return "\n".join(lines) + "\n"


MALFORMED: dict[str, tuple[Callable[[], str], list[str]]] = {
    "missing keys list": (lambda: "authorities: []\n", ["keys"]),
    "keys not a list": (lambda: "keys: wmp\n", ["keys"]),
    "not yaml": (lambda: "keys: [\n", ["not valid YAML"]),
    "entry not a mapping": (lambda: "keys:\n  - wmp\n", ["key 1"]),
    "bad base64": (lambda: "keys:\n" + entry(public_key="not*base64"), ["key 1", "public_key"]),
    "31-byte key": (
        lambda: "keys:\n" + entry(public_key=b64_key(31)),
        ["key 1", "public_key", "not 32 bytes"],
    ),
    "unknown field": (lambda: "keys:\n" + entry(colour="blue"), ["key 1", "colour", "unknown"]),
    "duplicate key id": (
        lambda: "keys:\n" + entry() + entry(),
        ["key 2", "key_id", "duplicates key 1"],
    ),
    "bad authority id": (lambda: "keys:\n" + entry(authority="WMP"), ["key 1", "authority"]),
    "authority too long": (lambda: "keys:\n" + entry(authority="a" * 41), ["key 1", "authority"]),
    "missing key id": (
        lambda: "keys:\n  - authority: wmp\n    public_key: " + b64_key() + "\n",
        ["key 1", "key_id", "missing"],
    ),
    "empty key id": (lambda: "keys:\n" + entry(key_id="''"), ["key 1", "key_id"]),
    "key id not a string": (lambda: "keys:\n" + entry(key_id="2026"), ["key 1", "key_id"]),
    "revoked_on not a date": (
        lambda: "keys:\n" + entry(revoked_on="last-march"),
        ["key 1", "revoked_on"],
    ),
    "revoked_on a time": (
        lambda: "keys:\n" + entry(revoked_on="2026-03-01T09:30:00Z"),
        ["key 1", "revoked_on", "not a date"],
    ),
    "revoked_at and revoked_on": (
        lambda: "keys:\n" + entry(revoked_at="2026-03-01T09:30:00Z", revoked_on="2026-03-01"),
        ["key 1", "not both"],
    ),
    "revoked_at without a zone": (
        lambda: "keys:\n" + entry(revoked_at="2026-03-01T09:30:00"),
        ["key 1", "revoked_at", "UTC time"],
    ),
    "revoked_at in another zone": (
        lambda: "keys:\n" + entry(revoked_at="'2026-03-01T10:30:00+01:00'"),
        ["key 1", "revoked_at"],
    ),
    "revoked_at with a fraction": (
        lambda: "keys:\n" + entry(revoked_at="2026-03-01T09:30:00.5Z"),
        ["key 1", "revoked_at"],
    ),
    "revoked_at a date": (
        lambda: "keys:\n" + entry(revoked_at="2026-03-01"),
        ["key 1", "revoked_at"],
    ),
    "revoked_at not a real time": (
        lambda: "keys:\n" + entry(revoked_at="'2026-02-30T09:30:00Z'"),
        ["key 1", "revoked_at"],
    ),
    "reason without date": (
        lambda: "keys:\n" + entry(revoked_reason="leaked"),
        ["key 1", "revoked_reason"],
    ),
    "error in the third entry": (
        lambda: (
            "keys:\n"
            + entry(key_id="a-1")
            + entry(key_id="a-2")
            + entry(key_id="a-3", public_key="AAAA")
        ),
        ["key 3", "public_key"],
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_registry(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    path = tmp_path / "keys.yaml"
    path.write_text(text(), encoding="utf-8")
    with pytest.raises(KeyRegistryError) as info:
        KeyRegistry.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, message


def test_missing_registry_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "keys.yaml"
    with pytest.raises(KeyRegistryError, match="not found") as info:
        KeyRegistry.load(path)
    assert str(path) in str(info.value)


def test_registry_rejects_duplicate_key_ids_in_code() -> None:
    with pytest.raises(KeyRegistryError, match="wmp-2026-01"):
        KeyRegistry([SIGNER.public_key(), SIGNER.public_key()])


def test_get_unknown_key() -> None:
    with pytest.raises(UnknownKey) as info:
        VERIFIER.registry.get("nobody-1")
    assert info.value.key_id == "nobody-1"


# ---------------------------------------------------------------- private key files


def test_signer_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "wmp" / "signing.pem"
    SIGNER.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    loaded = Signer.load(path, SIGNER.key_id, SIGNER.authority)

    assert loaded.public_key() == SIGNER.public_key()
    assert VERIFIER.verify(SIGNER.key_id, MESSAGE, loaded.sign(MESSAGE)) == SIGNER.public_key()


def test_save_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    SIGNER.save(path)
    with pytest.raises(FileExistsError):
        generate_signer("wmp-2026-02", "wmp").save(path)
    assert Signer.load(path, "wmp-2026-01", "wmp").public_key() == SIGNER.public_key()


def test_load_refuses_a_readable_key_file(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    SIGNER.save(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600") as info:
        Signer.load(path, SIGNER.key_id, SIGNER.authority)
    assert str(path) in str(info.value)
    assert "0644" in str(info.value)


def test_load_refuses_a_file_that_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(b"not a key\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="not an unencrypted PEM PKCS8 Ed25519 private key"):
        Signer.load(path, SIGNER.key_id, SIGNER.authority)


def test_signer_repr_does_not_show_the_key() -> None:
    assert repr(SIGNER) == "Signer(key_id='wmp-2026-01', authority='wmp')"


@pytest.mark.parametrize(("key_id", "authority"), [("", "wmp"), ("wmp-1", "West Midlands")])
def test_signer_checks_its_names(key_id: str, authority: str) -> None:
    with pytest.raises(ValueError):
        generate_signer(key_id, authority)
