"""Value-level pieces of the actions of PS3.15 Table E.1-1: dummy values and cleaning.

``D`` needs a non-zero length value consistent with the VR (:func:`dummy_value`); ``C``
for descriptors (Clean Descriptors Option, PS3.15 E.3.5) keeps the text after removing every
identifying value that the data set itself carries (patient names and ids, birth date,
accession number, physicians, institution...), see :class:`TextCleaner`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "DUMMY_TEXT",
    "IDENTIFYING_KEYWORDS",
    "NAME_KEYWORDS",
    "TEXT_VRS",
    "TextCleaner",
    "dummy_value",
]

DUMMY_TEXT = "ANONYMIZED"
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_BINARY_ZERO = {"US": 0, "SS": 0, "UL": 0, "SL": 0, "FL": 0.0, "FD": 0.0, "UV": 0, "SV": 0}


def dummy_value(vr: str) -> Any:
    """A non-zero length dummy value for ``vr`` (PS3.15 action D).

    Returns ``None`` for VRs that have no sensible dummy (OB, OW, UN...): the caller empties
    them instead.
    """
    if vr == "DA":
        return "19000101"
    if vr == "TM":
        return "000000"
    if vr == "DT":
        return "19000101000000"
    if vr == "PN":
        return "ANONYMOUS"
    if vr in ("IS", "DS"):
        return "0"
    if vr == "AS":
        return "000Y"
    if vr in TEXT_VRS:
        return DUMMY_TEXT
    if vr in _BINARY_ZERO:
        return _BINARY_ZERO[vr]
    return None


# Attributes whose values identify the patient or staff; cleaned descriptors lose them.
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthDate",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord",
    "OperatorsName",
    "RequestingPhysician",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "MedicalRecordLocator",
    "AdmissionID",
)


# Of those, the person names: split into components (family, given...) when cleaning.
NAME_KEYWORDS = frozenset(
    {
        "PatientName",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "OperatorsName",
        "RequestingPhysician",
    }
)


def _meaningful(token: str) -> bool:
    # Short tokens would mask ordinary words ("CT", "12"); two ideographs are a name.
    if token.isdigit():
        return len(token) >= 4
    return len(token) >= 3 or (len(token) == 2 and not token.isascii())


class TextCleaner:
    """Remove known identifying values from free text (Clean Descriptors, PS3.15 E.3.5).

    Parameters
    ----------
    values : iterable of str
        Identifying values taken from the data set (ids, dates, institution...), masked
        wherever they occur whole.
    names : iterable of str
        Person names: masked whole and by component (family, given... of each
        representation); components of fewer than 3 characters (2 for non-Latin scripts)
        and numbers of fewer than 4 digits are ignored.

    Examples
    --------
    >>> TextCleaner(["12345"], ["DOE^JOHN"]).clean("CT chest John Doe 12345")
    'CT chest * * *'
    """

    def __init__(self, values: Iterable[str], names: Iterable[str] = ()) -> None:
        tokens: set[str] = set()
        for value in values:
            value = value.strip()
            if _meaningful(value):
                tokens.add(value)
        for name in names:
            name = name.strip()
            if not name.strip("^= "):
                continue
            tokens.add(name)
            for part in re.split(r"[\^=\\,]+", name):
                for token in (part.strip(), *part.split()):
                    if _meaningful(token.strip()):
                        tokens.add(token.strip())
        self._tokens = tuple(sorted(tokens, key=len, reverse=True))
        self._lower = tuple(t.lower() for t in self._tokens)

    def clean(self, text: str) -> str:
        """``text`` with every identifying token replaced by ``*``."""
        low = text.lower()
        hits = [t for t, t_low in zip(self._tokens, self._lower, strict=True) if t_low in low]
        if not hits:  # the common case: no regular expression needed
            return text
        pattern = re.compile("|".join(re.escape(t) for t in hits), re.IGNORECASE)
        return pattern.sub("*", text)
