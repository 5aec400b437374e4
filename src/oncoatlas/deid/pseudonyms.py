"""Keyed patient pseudonyms and per-patient date offsets.

The patient id is replaced by ``ANON`` + 16 hex digits of HMAC-SHA256(key, patient id): the
same patient gets the same pseudonym in every run and every node that shares the key. When
dates are retained with modification (PS3.15 E.3.6, Retain Longitudinal Temporal Information
with Modified Dates), every date of a patient is shifted back by the same whole number of
days, derived from the key and the patient id, so intervals between a patient's studies are
preserved while the calendar dates are not.
"""

from __future__ import annotations

import datetime as _dt

from oncoatlas.deid.keys import derive

__all__ = ["MAX_OFFSET_DAYS", "Pseudonymizer", "shift_date", "shift_datetime"]

MAX_OFFSET_DAYS = 3650


class Pseudonymizer:
    """Keyed patient pseudonyms and date offsets.

    Parameters
    ----------
    key : bytes
        The secret key.

    Examples
    --------
    >>> p = Pseudonymizer(b"k" * 32)
    >>> p.patient_id("12345") == p.patient_id("12345")
    True
    >>> -3650 <= p.date_offset_days("12345") <= -1
    True
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def patient_id(self, patient_id: str) -> str:
        """The pseudonym of ``patient_id`` (16 characters, valid LO/PN)."""
        return "ANON" + derive(self._key, "patient-id", patient_id.strip()).hex()[:12].upper()

    def date_offset_days(self, patient_id: str) -> int:
        """The per-patient date shift in days, between -3650 and -1."""
        digest = derive(self._key, "date-offset", patient_id.strip())
        return -(1 + int.from_bytes(digest[:4], "big") % MAX_OFFSET_DAYS)


def shift_date(value: str, days: int) -> str | None:
    """Shift a DA value (``YYYYMMDD``, or legacy ``YYYY.MM.DD``) by ``days``.

    Returns ``None`` when the value cannot be parsed (the caller then removes it).
    """
    text = value.strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return (day + _dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def shift_datetime(value: str, days: int) -> str | None:
    """Shift the date part of a DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``, partial allowed).

    Time, fraction and UTC offset are kept as they are; a year-only or year-month DT keeps
    its precision after the shift. Returns ``None`` when the value cannot be parsed.
    """
    text = value.strip()
    if len(text) < 4 or not text[:4].isdigit():
        return None
    date_part = text[:8] if len(text) >= 8 and text[:8].isdigit() else None
    if date_part is None:
        # YYYY or YYYYMM: pad to a full date, shift, keep the same precision.
        digits = len(text) if text.isdigit() else 4
        digits = 6 if digits >= 6 else 4
        padded = text[:digits] + ("01" if digits == 6 else "0101")
        shifted = shift_date(padded, days)
        return None if shifted is None else shifted[:digits] + text[digits:]
    shifted = shift_date(date_part, days)
    return None if shifted is None else shifted + text[8:]
