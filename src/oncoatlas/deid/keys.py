"""The de-identification secret key: loading, checking, and keyed derivations.

Every pseudonym (UIDs, patient ids, date offsets) is an HMAC-SHA256 of the original value
under a secret key kept at the hospital (keyed hashing as in PS3.15 E.3.9's note on
consistent UID replacement, RFC 2104 HMAC). The same key gives the same pseudonyms, so that
references between series, SEG and RTSTRUCT stay consistent across runs; without the key
they cannot be recomputed from the originals.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from oncoatlas.errors import OncoatlasError

__all__ = ["MIN_KEY_BYTES", "DeidKeyError", "derive", "key_fingerprint", "load_key"]

MIN_KEY_BYTES = 32
_HOW = 'make one with: python -c "import secrets;print(secrets.token_hex(32))" > key'


class DeidKeyError(OncoatlasError, ValueError):
    """The de-identification key file is missing, unreadable or too short."""


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read the secret key from ``path`` (surrounding whitespace stripped).

    Parameters
    ----------
    path : path-like
        A file holding at least :data:`MIN_KEY_BYTES` bytes of secret, e.g. 64 hex digits.

    Returns
    -------
    bytes
        The key.

    Raises
    ------
    DeidKeyError
        When the file is missing, unreadable or shorter than 32 bytes.
    """
    p = Path(path)
    try:
        key = p.read_bytes().strip()
    except FileNotFoundError:
        raise DeidKeyError(f"key file {p} does not exist; {_HOW}") from None
    except OSError as exc:
        raise DeidKeyError(f"key file {p} cannot be read ({exc.strerror}); {_HOW}") from None
    if len(key) < MIN_KEY_BYTES:
        raise DeidKeyError(
            f"key file {p} holds {len(key)} bytes, at least {MIN_KEY_BYTES} are needed; {_HOW}"
        )
    return key


def derive(key: bytes, purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under ``key``, domain-separated by ``purpose``."""
    msg = purpose.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogateescape")
    return hmac.new(key, msg, hashlib.sha256).digest()


def key_fingerprint(key: bytes) -> str:
    """A short public identifier of the key (reports; reveals nothing about the key)."""
    return derive(key, "fingerprint", "oncoatlas-deid").hex()[:16]
