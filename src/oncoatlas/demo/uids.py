"""Deterministic identifiers: DICOM UIDs, seeds and demo tokens derived from the seed.

Every identifier the generator writes is a hash of the generation seed and a path of names
(node, patient, series, …), so that the same seed gives the same bytes on every machine.
"""

from __future__ import annotations

import hashlib

__all__ = ["derive_seed", "derive_token", "derive_uid"]


def _digest(*parts: object) -> bytes:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).digest()


def derive_uid(*parts: object) -> str:
    """Return a DICOM UID of the ``2.25`` (UUID-derived) form for ``parts``.

    The 128 most significant bits of ``sha256(parts)`` are shaped into a version-4-style
    UUID (RFC 9562 variant bits) and written as a decimal integer under the ``2.25`` root,
    as PS3.5 §B.2 describes.

    Parameters
    ----------
    *parts : object
        Anything with a stable ``str``: the seed first, then the names that make the object
        unique (node, patient id, series name, instance number…).

    Returns
    -------
    str
        A UID of at most 44 characters.

    Examples
    --------
    >>> derive_uid(0, "oslo", "OSLO-0001") == derive_uid(0, "oslo", "OSLO-0001")
    True
    """
    raw = bytearray(_digest("uid", *parts)[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4 layout
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
    return "2.25." + str(int.from_bytes(bytes(raw), "big"))


def derive_seed(*parts: object) -> int:
    """Return a 63-bit integer seed for ``numpy.random.default_rng`` derived from ``parts``."""
    return int.from_bytes(_digest("seed", *parts)[:8], "big") >> 1


def derive_token(seed: int, node: str, token_id: str) -> str:
    """Return the clear-text demo token of ``token_id`` at ``node`` for generation ``seed``.

    Demo tokens are public by design (they are written to ``federation.yaml``); a node's
    ``policy.yaml`` keeps only their SHA-256.
    """
    return f"demo-{node}-{token_id}-" + _digest("token", seed, node, token_id).hex()[:24]
