"""The hub's signing key in the state folder: made on first use, read by every hub service.

``<state>/keys/hub/signing.pem`` is the hub's Ed25519 private key (0600, in
a 0700 folder), and ``<state>/keys/hub/signing.pub.json`` beside it the
public key file that recipients get (``svdhub access hub-key``; format in
:mod:`wire.hub_signing`). The enforcer signs with it; the view builder, the
ledger and ``audit reconcile`` verify with the public file.

The key is made by whichever hub process needs it first. Two processes that
start together both try; the private key appears whole or not at all, and
the one that loses the race reads the winner's. It is not the audit
ledger's checkpoint key (``<state>/keys/audit``), which stays separate.
"""

from __future__ import annotations

import logging
from pathlib import Path

from wire.hub_signing import HubKeyFileError, HubKeys, HubSigner

log = logging.getLogger(__name__)


def key_folder(home: Path) -> Path:
    return home / "keys" / "hub"


def private_key_path(home: Path) -> Path:
    return key_folder(home) / "signing.pem"


def public_key_path(home: Path) -> Path:
    return key_folder(home) / "signing.pub.json"


def hub_signer(home: Path) -> HubSigner:
    """The hub's signer, made (with its public key file) if there is none yet.

    The public key file is brought up to date: it lists this key (after any
    keys it listed before, which still verify older messages)."""
    path = private_key_path(home)
    if path.is_file():
        signer = HubSigner.load(path)
    else:
        signer = HubSigner.generate()
        try:
            signer.save(path)
            log.info("made the hub's signing key %s in %s", signer.key_id, path)
        except FileExistsError:  # another hub process made it meanwhile
            signer = HubSigner.load(path)
    public = public_key_path(home)
    try:
        listed = HubKeys.load(public)
    except HubKeyFileError as exc:
        if public.exists():
            log.warning("%s; writing it anew with the hub's key %s only", exc, signer.key_id)
        listed = HubKeys([])
    if signer.key_id not in listed:
        listed.with_key(signer.public_key()).save(public)
    return signer


def hub_keys(home: Path, given: Path | None = None) -> HubKeys:
    """The hub's public keys: from ``given`` (a published key file), else the
    state folder's, made with the key on first use. Raises HubKeyFileError for
    a file that is not a hub key file."""
    if given is not None:
        return HubKeys.load(given)
    public = public_key_path(home)
    if not public.is_file():
        hub_signer(home)
    return HubKeys.load(public)
