"""Check that data sets look de-identified, without the originals (for node operators).

A node that receives or publishes files can verify them on its own: :func:`audit_dataset`
lists every element that a PS3.15 Annex E Basic Profile output (with the given options)
should not contain: a marked Patient Identity Removed, attributes that Table E.1-1 removes
(X), empties (Z) or replaces with dummies (D) still holding a value, UIDs that are neither
keyed ``2.25`` UIDs nor well-known ones, person names, private attributes outside the safe
list, curves and overlays. It cannot see whether a kept value was identifying; it checks
the structure the profile guarantees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from oncoatlas.deid.actions import DUMMY_TEXT, dummy_value
from oncoatlas.deid.profile import (
    SAFE_PRIVATE,
    Action,
    Longitudinal,
    ProfileOptions,
    compile_profile,
)
from oncoatlas.deid.uids import is_well_known_uid, keeps_uid_attribute

__all__ = ["audit_dataset", "audit_folder"]

_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_DUMMIES = {DUMMY_TEXT, "ANONYMOUS", "19000101", "000000", "19000101000000", "0", "000Y"}


def _items(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for elem in ds:
        name = elem.keyword or f"{int(elem.tag):08X}"
        path = f"{prefix}{name}"
        yield path, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                yield from _items(item, f"{path}[{i}].")


def _empty(value: Any) -> bool:
    if value is None or value == "" or value == b"":
        return True
    return isinstance(value, (list, tuple)) and len(value) == 0


def audit_dataset(ds: Dataset, options: ProfileOptions | None = None) -> list[str]:
    """Problems that show ``ds`` is not a Basic Profile output under ``options``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A de-identified data set.
    options : ProfileOptions, optional
        The options it was de-identified with (the Basic Profile alone by default).

    Returns
    -------
    list of str
        One line per problem, naming the attribute path (never its value); empty when the
        data set passes.

    References
    ----------
    .. [1] DICOM PS3.15, Annex E, Table E.1-1 and E.3.
    """
    options = options or ProfileOptions()
    table = compile_profile(options)
    problems: list[str] = []
    if str(ds.get("PatientIdentityRemoved", "")) != "YES":
        problems.append("PatientIdentityRemoved is not YES")
    if "DeidentificationMethodCodeSequence" not in ds:
        problems.append("DeidentificationMethodCodeSequence is missing")
    for path, elem in _items(ds):
        tag = int(elem.tag)
        group = tag >> 16
        value = elem.value
        if group & 1:
            low = tag & 0xFFFF
            if 0x0010 <= low <= 0x00FF:
                continue  # creators are judged through their elements
            creator = ""
            if options.retain_safe_private:
                creator_tag = (group << 16) | (low >> 8)
                creator = str(ds.get(creator_tag).value) if creator_tag in ds else ""
            if (creator, group, low & 0xFF) not in SAFE_PRIVATE:
                problems.append(f"{path}: private attribute")
            continue
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            problems.append(f"{path}: curve or overlay")
            continue
        if tag in (_PATIENT_ID, _PATIENT_NAME):
            if not str(value).startswith("ANON"):
                problems.append(f"{path}: not a pseudonym")
            continue
        action = table.lookup(tag)
        if elem.VR == "UI" and not _empty(value) and not options.retain_uids:
            try:
                keyword = keyword_for_tag(tag)
            except KeyError:
                keyword = ""
            if not keeps_uid_attribute(keyword):
                for uid in value if isinstance(value, (list, tuple)) else [value]:
                    if not (str(uid).startswith("2.25.") or is_well_known_uid(str(uid))):
                        problems.append(f"{path}: UID not replaced")
            continue
        if action is Action.REMOVE:
            problems.append(f"{path}: should have been removed")
        elif action is Action.ZERO and elem.VR != "SQ" and not _empty(value):
            problems.append(f"{path}: should be empty")
        elif action is Action.DUMMY and elem.VR not in ("SQ", "UI") and not _empty(value):
            dummy = dummy_value(elem.VR)
            if dummy is not None and str(value) not in _DUMMIES:
                problems.append(f"{path}: should hold a dummy value")
        elif action is None and elem.VR == "PN" and not _empty(value):
            problems.append(f"{path}: person name")
    modified = str(ds.get("LongitudinalTemporalInformationModified", ""))
    if options.retain_longitudinal is Longitudinal.MODIFIED_DATES and modified != "MODIFIED":
        problems.append("LongitudinalTemporalInformationModified is not MODIFIED")
    return problems


def audit_folder(
    folder: str | os.PathLike[str], options: ProfileOptions | None = None
) -> dict[str, list[str]]:
    """:func:`audit_dataset` for every ``*.dcm`` file under ``folder`` (hidden folders skipped).

    Returns
    -------
    dict
        Relative path -> problems, only for files with problems (unreadable files too).
    """
    root = Path(folder)
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.dcm")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:
            out[rel.as_posix()] = [f"not readable: {type(exc).__name__}"]
            continue
        problems = audit_dataset(ds, options)
        if problems:
            out[rel.as_posix()] = problems
    return out
