"""Keyed UID replacement (PS3.15 Table E.1-1 action U).

A UID is replaced by ``2.25.<n>`` where ``n`` is the first 128 bits of HMAC-SHA256(key, uid)
read as an integer (the ``2.25`` root of ISO/IEC 9834-8 / PS3.5 B.2 for UUID-derived UIDs).
The same UID under the same key always gives the same replacement, so references inside
SEG, RTSTRUCT and other series keep resolving; a different key gives unrelated UIDs.
Well-known UIDs (SOP classes, transfer syntaxes, well-known frames of reference and other
UIDs of the standard's registry, PS3.6 Annex A) are never replaced.
"""

from __future__ import annotations

import functools

from pydicom._uid_dict import UID_dictionary  # the PS3.6 Annex A registry

from oncoatlas.deid.keys import derive

__all__ = ["UIDMapper", "is_well_known_uid", "keeps_uid_attribute"]

_DICOM_ROOT = "1.2.840.10008."


def is_well_known_uid(uid: str) -> bool:
    """Whether ``uid`` is a UID of the DICOM registry (SOP class, transfer syntax, ...)."""
    return uid in UID_dictionary or uid.startswith(_DICOM_ROOT)


# UI attributes whose values name classes, syntaxes or coding schemes, never instances.
_KEEP_KEYWORD_SUFFIXES = ("ClassUID", "SyntaxUID", "ClassUIDInFile")
_KEEP_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
        "ImplementationClassUID",
        "PrivateInformationCreatorUID",
        "ReferencedTransferSyntaxUIDInFile",
        "SOPClassesInStudy",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
    }
)


@functools.cache
def keeps_uid_attribute(keyword: str) -> bool:
    """Whether a UI attribute names a class/syntax/scheme (kept) rather than an instance."""
    return keyword in _KEEP_KEYWORDS or keyword.endswith(_KEEP_KEYWORD_SUFFIXES)


class UIDMapper:
    """Map original UIDs to keyed ``2.25.<int>`` UIDs.

    Parameters
    ----------
    key : bytes
        The secret key (see :func:`oncoatlas.deid.keys.load_key`).

    Examples
    --------
    >>> m = UIDMapper(b"k" * 32)
    >>> m("1.2.3.4") == m("1.2.3.4"), m("1.2.3.4").startswith("2.25.")
    (True, True)
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        """The replacement of ``uid`` (well-known UIDs and empty values are returned as is)."""
        uid = uid.strip("\x00 ")
        if not uid or is_well_known_uid(uid):
            return uid
        out = self._cache.get(uid)
        if out is None:
            digest = derive(self._key, "uid", uid)
            out = "2.25." + str(int.from_bytes(digest[:16], "big"))
            if len(self._cache) < 100_000:
                self._cache[uid] = out
        return out
