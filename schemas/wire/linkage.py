"""The partnership linkage key's fingerprint: how the hub tells keys apart
without holding any.

Every authority pseudonymises with the partnership's one linkage key
(``edge.pseudonymise``), which the hub never holds. An authority that ends
up with another key under the same version label makes pseudonyms that
never match anyone else's, and nothing in the pseudonyms themselves shows
it. So every event whose payload holds pseudonyms also carries the key's
fingerprint (``Envelope.linkage_key_fingerprint``); the hub keeps the
partnership's fingerprint per key version and quarantines an event whose
fingerprint is missing, unregistered or different.

The fingerprint is ``HMAC-SHA256(linkage key, "svdhub linkage-key
fingerprint v1")``, as 32 lowercase hexadecimal characters (the first 128
bits). Why this:

* **Keyed, so it says nothing about the key.** HMAC-SHA256 is a
  pseudorandom function of the key: without the key, the fingerprint is
  indistinguishable from random bits, and knowing it does not help anyone
  compute a pseudonym or recover the key (the key has 256 random bits, so
  there is nothing to guess).
* **Never a pseudonym.** The message is fixed and differs from every
  message the pseudonymiser MACs (``record\\x1f...``, ``person\\x1f...``,
  ``nhs\\x1f...``), so the fingerprint can never equal a pseudonym made with
  the same key; ``v1`` leaves room for another scheme.
* **128 bits.** Enough that two different keys never share a fingerprint by
  accident, and that nobody without the key can make a matching one (one
  chance in 2**128); short enough for people to read out and compare with
  the one the partnership published.

Only the connectors compute it (they hold the key); the hub compares the
string it was given with the registered one.
"""

from __future__ import annotations

import hashlib
import hmac
import re

#: What the fingerprint MACs: fixed, and unlike any pseudonym's message.
FINGERPRINT_MESSAGE = b"svdhub linkage-key fingerprint v1"

#: Hexadecimal characters kept (128 bits).
FINGERPRINT_LENGTH = 32

#: What a fingerprint looks like.
FINGERPRINT = re.compile(rf"[0-9a-f]{{{FINGERPRINT_LENGTH}}}")


def fingerprint(key: bytes) -> str:
    """The fingerprint of a linkage key (its raw bytes, as the pseudonymiser
    uses them): 32 lowercase hexadecimal characters."""
    if not key:
        raise ValueError("a linkage key is never empty")
    mac = hmac.new(key, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()
    return mac[:FINGERPRINT_LENGTH]


def is_fingerprint(text: str) -> bool:
    """Whether ``text`` has the form of a fingerprint (it may still be anyone's)."""
    return FINGERPRINT.fullmatch(text) is not None
