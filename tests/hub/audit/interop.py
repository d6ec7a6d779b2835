"""A cross-check of the audit log's formats against the reference Go implementations.

The hub publishes checkpoints as C2SP ``tlog-checkpoint`` notes inside C2SP
``signed-note``s (Ed25519), partners co-sign them with C2SP
``tlog-cosignature/v1`` (Ed25519, timestamped, key-ID algorithm byte 0x04),
and it serves RFC 6962 inclusion and consistency proofs. A test that only
checks the Python code against itself proves nothing about the formats, so
the small Go program in ``interop/`` (``main.go``, module versions pinned in
``go.mod`` and ``go.sum``) checks them with the libraries other logs and
witnesses use:

* signed notes: ``golang.org/x/mod/sumdb/note`` (``Open``, ``NewVerifier``,
  ``NewSigner``, ``GenerateKey``, ``Sign``);
* checkpoints: ``github.com/transparency-dev/formats/log`` (``ParseCheckpoint``);
* cosignatures: ``github.com/transparency-dev/formats/note``
  (``NewVerifierForCosignatureV1``, ``NewSignerForCosignatureV1``,
  ``CoSigV1Timestamp``);
* proofs: ``github.com/transparency-dev/merkle/proof`` (``VerifyInclusion``,
  ``VerifyConsistency``) with the ``rfc6962`` hasher.

It also works the other way round (:meth:`GoChecker.sign_note`,
:meth:`GoChecker.sign_checkpoint`, :meth:`GoChecker.cosign`), so the Python
side can be tested on what Go makes.

**Use.** Ask for the session fixture ``go_checker`` and mark the test
``slow``. The first use in a session builds the program with ``go build``
(``GOCACHE``/``GOMODCACHE`` defaults) into the pytest cache,
``.pytest_cache/d/svdhub-interop/<hash of the sources and Go version>/``, so
later sessions reuse it; that build fetches the pinned Go modules from the Go
module proxy, checked against the committed ``go.sum`` (``make setup`` does
not fetch them). Each call runs the program once: one JSON request on stdin,
one JSON answer on stdout. A check that fails raises :class:`Refused` with
the library's message; a request the program cannot read raises
:class:`HarnessError` (a bug in this module or its caller).

**When Go is missing.** Without Go 1.26 or the module proxy the fixture
*fails* the test with instructions: CI must really run the cross-check. Set
``SVDHUB_INTEROP_OPTIONAL=1`` to skip instead (never under ``CI=true``).

Test code only: the program prints the private keys it generates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SOURCES = Path(__file__).with_name("interop")
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
PROGRAM = "svdhub-interop"
OPTIONAL_ENV = "SVDHUB_INTEROP_OPTIONAL"
BUILD_TIMEOUT = 240.0  # seconds; a first build also downloads the modules
CALL_TIMEOUT = 30.0


class HarnessError(RuntimeError):
    """The program could not read the request, or did not answer: a harness bug."""


class GoUnavailable(RuntimeError):
    """Go, or the modules it needs, could not be had, so the program was not built."""


class Refused(AssertionError):
    """A reference library refused what it was given: ``error`` is its message,
    ``answer`` the whole answer (``open_note`` adds the ``unverified`` signatures)."""

    def __init__(self, error: str, answer: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error
        self.answer = answer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the signer's name, the 4-byte key ID as 8
    hex digits, and the base64 of key ID || signature."""

    name: str
    key_id: str
    signature: str

    @classmethod
    def from_answer(cls, raw: dict[str, Any]) -> Signature:
        return cls(name=raw["name"], key_id=raw["key_id"], signature=raw["signature"])


def _signatures(raw: list[dict[str, Any]]) -> tuple[Signature, ...]:
    return tuple(Signature.from_answer(item) for item in raw)


@dataclass(frozen=True)
class OpenedNote:
    """What ``note.Open`` verified: the text, the names of the signers whose
    signatures verified, and the signatures by keys it was not given."""

    text: str
    verified: tuple[str, ...]
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


@dataclass(frozen=True)
class ParsedCheckpoint:
    """What ``log.ParseCheckpoint`` read, after the log's signature verified."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    rest: str  # the extension lines as the note holds them, "" when none
    verified: tuple[str, ...]
    unverified: tuple[Signature, ...]


@dataclass(frozen=True)
class VerifiedCosignature:
    """A cosignature/v1 that verified: its time (Unix seconds) and the
    verifier key the library was given (``name+keyid+base64(0x04 || key)``)."""

    timestamp: int
    verifier_key: str
    key_id: str


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 note key in the signed-note formats: ``PRIVATE+KEY+name+id+key``
    and ``name+id+key``."""

    name: str
    signer_key: str
    verifier_key: str


@dataclass(frozen=True)
class SignedNote:
    note: str
    text: str
    keys: tuple[NoteKey, ...]


@dataclass(frozen=True)
class Cosigned:
    """A note with one more cosignature/v1 line, made in Go, and the key that
    made it (``public_key`` is the raw 32-byte Ed25519 key)."""

    note: str
    name: str
    signer_key: str
    verifier_key: str
    public_key: bytes
    key_id: str
    signature: str
    timestamp: int


# ---------------------------------------------------------------- the checker


@dataclass(frozen=True)
class GoChecker:
    """The built program; each method is one request to it."""

    program: Path

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; return the answer of a check that passed, raise
        :class:`Refused` for one that failed and :class:`HarnessError` when the
        program did not understand the request."""
        try:
            done = subprocess.run(
                [str(self.program)],
                input=json.dumps(request).encode(),
                capture_output=True,
                timeout=CALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{PROGRAM} did not answer in {CALL_TIMEOUT:.0f} s") from exc
        stderr = done.stderr.decode(errors="replace").strip()
        if done.returncode != 0:
            raise HarnessError(f"{PROGRAM} exited {done.returncode}: {stderr}")
        try:
            answer: dict[str, Any] = json.loads(done.stdout)
        except ValueError as exc:
            raise HarnessError(f"{PROGRAM} answered no JSON: {done.stdout!r} {stderr}") from exc
        if not answer.get("ok"):
            raise Refused(str(answer.get("error")), answer)
        return answer

    def open_note(self, note: str, verifier_keys: Sequence[str]) -> OpenedNote:
        """``note.Open`` with these verifier keys (Ed25519 ``name+id+base64(0x01
        || key)``, or cosignature/v1 keys with algorithm byte 0x04). Refused
        unless at least one signature verifies and none by a given key fails."""
        answer = self.call({"op": "open_note", "note": note, "verifier_keys": list(verifier_keys)})
        return OpenedNote(
            text=answer["text"],
            verified=tuple(answer["verified"]),
            signatures=_signatures(answer["signatures"]),
            unverified=_signatures(answer["unverified"]),
        )

    def parse_checkpoint(
        self,
        note: str,
        origin: str,
        verifier_key: str,
        other_verifier_keys: Sequence[str] = (),
    ) -> ParsedCheckpoint:
        """``log.ParseCheckpoint``: the log's signature must verify with
        ``verifier_key`` and the checkpoint name ``origin``."""
        answer = self.call(
            {
                "op": "parse_checkpoint",
                "note": note,
                "origin": origin,
                "verifier_key": verifier_key,
                "other_verifier_keys": list(other_verifier_keys),
            }
        )
        return ParsedCheckpoint(
            origin=answer["origin"],
            size=answer["size"],
            root=_unb64(answer["root"]),
            extensions=tuple(answer["extensions"]),
            rest=answer["rest"],
            verified=tuple(answer["verified"]),
            unverified=_signatures(answer["unverified"]),
        )

    def verify_cosignature(
        self, note: str, cosigner_name: str, cosigner_public_key: bytes
    ) -> VerifiedCosignature:
        """Find and verify the cosignature/v1 line of this cosigner (raw 32-byte
        Ed25519 public key) with ``NewVerifierForCosignatureV1``; other
        signatures on the note are left alone."""
        answer = self.call(
            {
                "op": "verify_cosignature",
                "note": note,
                "cosigner_name": cosigner_name,
                "cosigner_public_key": _b64(cosigner_public_key),
            }
        )
        return VerifiedCosignature(
            timestamp=answer["timestamp"],
            verifier_key=answer["verifier_key"],
            key_id=answer["key_id"],
        )

    def verify_inclusion(
        self, leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
    ) -> None:
        """``proof.VerifyInclusion`` (RFC 6962 hasher); returns when it holds."""
        self.call(
            {
                "op": "verify_inclusion",
                "leaf_index": leaf_index,
                "tree_size": tree_size,
                "leaf_hash": _b64(leaf_hash),
                "proof": [_b64(node) for node in proof],
                "root": _b64(root),
            }
        )

    def verify_consistency(
        self,
        old_size: int,
        new_size: int,
        old_root: bytes,
        new_root: bytes,
        proof: Sequence[bytes],
    ) -> None:
        """``proof.VerifyConsistency`` (RFC 6962 hasher); returns when it holds."""
        self.call(
            {
                "op": "verify_consistency",
                "old_size": old_size,
                "new_size": new_size,
                "old_root": _b64(old_root),
                "new_root": _b64(new_root),
                "proof": [_b64(node) for node in proof],
            }
        )

    def sign_note(
        self, text: str, *, signer_keys: Sequence[str] = (), names: Sequence[str] = ()
    ) -> SignedNote:
        """``note.Sign`` over ``text`` (which must end in a newline) with each
        Ed25519 signer key given, then with a new key (``note.GenerateKey``)
        for each name; the answer lists every key used."""
        return self._sign({"op": "sign_note", "text": text}, signer_keys, names)

    def sign_checkpoint(
        self,
        origin: str,
        size: int,
        root: bytes,
        extensions: Sequence[str] = (),
        *,
        signer_keys: Sequence[str] = (),
        names: Sequence[str] = (),
    ) -> SignedNote:
        """A checkpoint body made by ``log.Checkpoint.Marshal`` plus extension
        lines, signed as :meth:`sign_note` signs."""
        checkpoint = {
            "origin": origin,
            "size": size,
            "root": _b64(root),
            "extensions": list(extensions),
        }
        return self._sign({"op": "sign_note", "checkpoint": checkpoint}, signer_keys, names)

    def _sign(
        self, request: dict[str, Any], signer_keys: Sequence[str], names: Sequence[str]
    ) -> SignedNote:
        answer = self.call({**request, "signer_keys": list(signer_keys), "names": list(names)})
        keys = tuple(
            NoteKey(name=k["name"], signer_key=k["signer_key"], verifier_key=k["verifier_key"])
            for k in answer["keys"]
        )
        return SignedNote(note=answer["note"], text=answer["text"], keys=keys)

    def cosign(
        self,
        note: str,
        *,
        signer_key: str | None = None,
        name: str | None = None,
        timestamp: int | None = None,
    ) -> Cosigned:
        """Add a cosignature/v1 line to ``note``, keeping its signatures as they
        are. The key is ``signer_key`` (``PRIVATE+KEY+name+id+base64(alg ||
        seed)``, alg 0x01 or 0x04) or a new one for ``name``. Without
        ``timestamp`` the library's ``NewSignerForCosignatureV1`` signs at the
        current time; with one, the program signs at that time from the spec."""
        request: dict[str, Any] = {"op": "cosign", "note": note}
        if signer_key is not None:
            request["signer_key"] = signer_key
        if name is not None:
            request["name"] = name
        if timestamp is not None:
            request["timestamp"] = timestamp
        answer = self.call(request)
        return Cosigned(
            note=answer["note"],
            name=answer["name"],
            signer_key=answer["signer_key"],
            verifier_key=answer["verifier_key"],
            public_key=_unb64(answer["public_key"]),
            key_id=answer["key_id"],
            signature=answer["signature"],
            timestamp=answer["timestamp"],
        )


# ---------------------------------------------------------------- building


def find_go() -> str:
    """``$GO``, else ``go`` on PATH, else the standard /usr/local/go."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise GoUnavailable("no Go toolchain: set GO, put go on PATH or install /usr/local/go")


def _go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: never download another toolchain behind the test's back.
    return {**os.environ, "GOTOOLCHAIN": "local"}


def sources_digest(go: str) -> str:
    """A hash of the program's sources and the Go version that builds them."""
    digest = hashlib.sha256()
    try:
        version = subprocess.run(
            [go, "version"], capture_output=True, check=True, timeout=30, env=_go_env()
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoUnavailable(f"`{go} version` failed: {exc}") from exc
    digest.update(version)
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (SOURCES / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build(cache_root: Path, go: str | None = None) -> Path:
    """The program, built with ``go build`` into ``cache_root/<digest>/`` unless
    already there. Modules come from GOMODCACHE or the Go module proxy and must
    match the committed go.sum (``-mod=readonly``). Raises GoUnavailable."""
    go = go or find_go()
    target = cache_root / sources_digest(go) / PROGRAM
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a concurrent session never runs half a file.
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / PROGRAM
        command = [go, "build", "-trimpath", "-mod=readonly", "-buildvcs=false", "-o", str(built)]
        try:
            done = subprocess.run(
                [*command, "."],
                cwd=SOURCES,
                capture_output=True,
                timeout=BUILD_TIMEOUT,
                check=False,
                env=_go_env(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise GoUnavailable(f"`go build` in {SOURCES} failed: {exc}") from exc
        if done.returncode != 0:
            output = done.stderr.decode(errors="replace").strip()
            raise GoUnavailable(f"`go build` in {SOURCES} exited {done.returncode}:\n{output}")
        built.replace(target)
    return target


HOW_TO_FIX = (
    "The audit cross-check builds a Go program (tests/hub/audit/interop/) with Go 1.26 "
    "and the modules pinned in its go.sum, fetched from the Go module proxy "
    "(proxy.golang.org, or GOPROXY) on first use. Install Go or set GO=/path/to/go, make "
    "the proxy reachable (or fill GOMODCACHE: `cd tests/hub/audit/interop && go mod "
    f"download`), or set {OPTIONAL_ENV}=1 to skip these tests instead (not under CI=true)."
)


@pytest.fixture(scope="session")
def go_checker(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GoChecker]:
    """The Go cross-check program, built once per session (cached across
    sessions in the pytest cache). Fails when it cannot be built, unless
    SVDHUB_INTEROP_OPTIONAL=1 (and not CI=true), which skips."""
    cache = getattr(pytestconfig, "cache", None)
    root = cache.mkdir("svdhub-interop") if cache else tmp_path_factory.mktemp("svdhub-interop")
    try:
        program = build(Path(root))
    except GoUnavailable as exc:
        problem = str(exc)
    else:
        yield GoChecker(program)
        return
    message = f"the Go cross-check is not available: {problem}\n{HOW_TO_FIX}"
    if os.environ.get(OPTIONAL_ENV) == "1" and os.environ.get("CI") != "true":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)
