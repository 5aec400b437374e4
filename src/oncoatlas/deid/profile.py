"""The Basic Application Level Confidentiality Profile as data (DICOM PS3.15 Annex E).

``profile_table.csv`` beside this module restates PS3.15 Table E.1-1 ("Application Level
Confidentiality Profile Attributes"): for each attribute its tag, keyword, name, the action
of the Basic Profile and the action of each option column (Retain Safe Private, Retain UIDs,
Retain Device Identity, Retain Institution Identity, Retain Patient Characteristics, Retain
Longitudinal Temporal Information with Full Dates / with Modified Dates, Clean Descriptors,
Clean Structured Content, Clean Graphics). Tags with ``xx`` are repeating groups
(``50xxxxxx`` curves, ``60xx3000`` overlay data). The table has 464 rows, transcribed from
the standard's Table E.1-1 (2020s editions, including the GPS, RT Second Generation and
conceptual-volume attributes); every row's tag, keyword and name agree with pydicom's data
dictionary (checked by the test suite). The private-attribute row ("(gggg,eeee) where gggg
is odd": X, Retain Safe Private C) is implemented as a general rule, not a row.

Attributes the table does not list are handled by the general rules of
:func:`generic_action` (documented there): every UID that is not a well-known class or
transfer syntax UID is replaced, every private attribute is removed unless it is on
:data:`SAFE_PRIVATE` and the Retain Safe Private option is chosen, curve (50xx) and overlay
(60xx) groups are removed, person names are removed, and dates and times follow the date
options.

Action codes (PS3.15 Table E.1-1 legend)
----------------------------------------
``D`` replace with a non-zero length dummy value consistent with the VR; ``Z`` replace with a
zero length value (or a dummy); ``X`` remove; ``K`` keep (sequences are still processed
recursively); ``C`` clean (replace with values of similar meaning known not to contain
identifying information); ``U`` replace a UID with a non-zero length UID that is internally
consistent within a set of instances. Combined actions (``X/Z``, ``X/D``, ``X/Z/D``,
``Z/D``, ``X/Z/U*``) mean "the first, unless the next is needed to keep the IOD conformant";
:class:`Conformance` chooses how they are resolved without per-IOD module tables.

References
----------
.. [1] DICOM PS3.15 2024, Annex E "Attribute Confidentiality Profiles", Table E.1-1 and
   section E.3 (profile options); CID 7050 "De-identification Method".
"""

from __future__ import annotations

import csv
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

__all__ = [
    "OPTION_COLUMNS",
    "SAFE_PRIVATE",
    "Action",
    "Conformance",
    "Longitudinal",
    "ProfileOptions",
    "ProfileRow",
    "compile_profile",
    "generic_date_action",
    "load_table",
    "method_codes",
    "method_description",
    "resolve_action",
]


class Action(enum.StrEnum):
    """A resolved de-identification action (PS3.15 Table E.1-1 codes)."""

    REMOVE = "X"
    ZERO = "Z"
    DUMMY = "D"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"


class Conformance(enum.StrEnum):
    """How combined actions (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) are resolved.

    ``keep`` (default) takes the alternative that keeps any IOD conformant whatever the
    attribute's type (D over Z over X; ``X/Z/U*`` keeps the sequence and replaces its UIDs),
    so that outputs still load and index. ``minimal`` takes the first, most removing
    alternative (X, or Z for ``Z/D``), which may break Type 1/2 requirements.
    """

    KEEP = "keep"
    MINIMAL = "minimal"


class Longitudinal(enum.StrEnum):
    """The Retain Longitudinal Temporal Information options (PS3.15 E.3.6)."""

    OFF = "off"
    FULL = "full"
    MODIFIED_DATES = "modified-dates"


# Option columns of the table, in the order an option's action is looked up.
OPTION_COLUMNS: tuple[str, ...] = (
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
    "retain_safe_private",
)

# Private attributes retained under the Retain Safe Private option: (private creator,
# group, element byte). Only numeric acquisition parameters that carry no identity and that
# analyses need (diffusion b-values and directions, Philips MR rescale), following the kind of
# entries in PS3.15 Table E.3.10-1. Everything else private is removed.
SAFE_PRIVATE: frozenset[tuple[str, int, int]] = frozenset(
    {
        ("SIEMENS MR HEADER", 0x0019, 0x0C),  # B_value
        ("SIEMENS MR HEADER", 0x0019, 0x0D),  # DiffusionDirectionality
        ("SIEMENS MR HEADER", 0x0019, 0x0E),  # DiffusionGradientDirection
        ("SIEMENS MR HEADER", 0x0019, 0x27),  # B_matrix
        ("GEMS_PARM_01", 0x0043, 0x39),  # slop_int_6..9 (b-value)
        ("Philips Imaging DD 001", 0x2001, 0x03),  # Diffusion B-Factor
        ("Philips MR Imaging DD 001", 0x2005, 0x0E),  # MR scale slope
    }
)


@dataclass(frozen=True)
class ProfileRow:
    """One row of PS3.15 Table E.1-1.

    Attributes
    ----------
    tag : str
        Eight hex digits, ``x`` for a repeating-group digit (``60xx3000``).
    keyword, name : str
        The DICOM keyword (empty for repeating groups) and the standard's attribute name.
    basic : str
        The Basic Profile action, possibly combined (``X/Z/D``).
    options : Mapping[str, str]
        Option column -> action, only the non-empty ones.
    """

    tag: str
    keyword: str
    name: str
    basic: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_mask(self) -> bool:
        """Whether the tag is a repeating-group mask such as ``60xx3000``."""
        return "x" in self.tag.lower()

    def matches(self, tag: int) -> bool:
        """Whether the integer ``tag`` matches this row (masks included)."""
        text = f"{tag:08X}"
        return all(m in "xX" or m == t for m, t in zip(self.tag.upper(), text, strict=True))


@dataclass(frozen=True)
class ProfileOptions:
    """The Basic Profile options chosen for a run (PS3.15 E.3).

    Parameters
    ----------
    retain_longitudinal : Longitudinal or str
        ``off`` (dates removed), ``full`` (dates kept, E.3.6 Full Dates) or
        ``modified-dates`` (dates shifted by a keyed per-patient offset, E.3.6 Modified Dates).
    retain_patient_characteristics : bool
        E.3.7: keep sex, age, size, weight, ethnic group, smoking and pregnancy status.
    clean_descriptors : bool
        E.3.5: keep descriptions (study/series description, protocol name, ROI names…) after
        removing identifying values found elsewhere in the data set, instead of removing them.
    retain_device_identity : bool
        E.3.8: keep station name, device serial numbers and similar.
    retain_institution_identity : bool
        E.3.9 (Retain Institution Identity): keep institution name/address/department.
    retain_uids : bool
        E.3.9 Retain UIDs: keep original UIDs (not recommended across institutions).
    retain_safe_private : bool
        E.3.10: keep the private attributes listed in :data:`SAFE_PRIVATE`.
    conformance : Conformance or str
        How combined actions are resolved (see :class:`Conformance`).
    """

    retain_longitudinal: Longitudinal = Longitudinal.OFF
    retain_patient_characteristics: bool = False
    clean_descriptors: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_uids: bool = False
    retain_safe_private: bool = False
    conformance: Conformance = Conformance.KEEP

    def __post_init__(self) -> None:
        object.__setattr__(self, "retain_longitudinal", Longitudinal(self.retain_longitudinal))
        object.__setattr__(self, "conformance", Conformance(self.conformance))

    def enabled_columns(self) -> tuple[str, ...]:
        """The option columns of Table E.1-1 that these options switch on, in lookup order."""
        on = {
            "retain_uids": self.retain_uids,
            "retain_device_identity": self.retain_device_identity,
            "retain_institution_identity": self.retain_institution_identity,
            "retain_patient_characteristics": self.retain_patient_characteristics,
            "retain_long_full_dates": self.retain_longitudinal is Longitudinal.FULL,
            "retain_long_modified_dates": self.retain_longitudinal is Longitudinal.MODIFIED_DATES,
            "clean_descriptors": self.clean_descriptors,
            "clean_structured_content": False,
            "clean_graphics": False,
            "retain_safe_private": self.retain_safe_private,
        }
        return tuple(c for c in OPTION_COLUMNS if on[c])

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able form (for reports and worker processes)."""
        return {
            "retain_longitudinal": self.retain_longitudinal.value,
            "retain_patient_characteristics": self.retain_patient_characteristics,
            "clean_descriptors": self.clean_descriptors,
            "retain_device_identity": self.retain_device_identity,
            "retain_institution_identity": self.retain_institution_identity,
            "retain_uids": self.retain_uids,
            "retain_safe_private": self.retain_safe_private,
            "conformance": self.conformance.value,
        }


@functools.cache
def load_table() -> tuple[ProfileRow, ...]:
    """Read ``profile_table.csv`` (PS3.15 Table E.1-1) shipped with the package.

    Returns
    -------
    tuple of ProfileRow
        One row per attribute of the table, sorted by tag.
    """
    text = resources.files("oncoatlas.deid").joinpath("profile_table.csv").read_text("utf-8")
    rows = []
    for rec in csv.DictReader(text.splitlines()):
        options = {c: rec[c] for c in OPTION_COLUMNS if rec.get(c)}
        rows.append(
            ProfileRow(
                tag=rec["tag"],
                keyword=rec["keyword"],
                name=rec["name"],
                basic=rec["basic"],
                options=options,
            )
        )
    return tuple(rows)


def _resolve_combined(code: str, conformance: Conformance) -> Action:
    parts = code.replace("*", "").split("/")
    if len(parts) == 1:
        return Action(parts[0])
    if conformance is Conformance.MINIMAL:
        return Action(parts[0])
    # keep: the alternative that keeps the IOD conformant whatever the attribute's type.
    for preferred in ("U", "D", "Z"):
        if preferred in parts:
            return Action(preferred)
    return Action(parts[0])


def resolve_action(row: ProfileRow, options: ProfileOptions) -> Action:
    """The action for ``row`` under ``options`` (PS3.15 E.3: an option's action overrides).

    Parameters
    ----------
    row : ProfileRow
        A row of Table E.1-1.
    options : ProfileOptions
        The chosen options.

    Returns
    -------
    Action
        The single action to apply.

    Examples
    --------
    >>> rows = {r.keyword: r for r in load_table()}
    >>> resolve_action(rows["StudyDate"], ProfileOptions()).value
    'Z'
    >>> resolve_action(rows["StudyDate"], ProfileOptions(retain_longitudinal="modified-dates")).value
    'C'
    """
    for column in options.enabled_columns():
        code = row.options.get(column)
        if code:
            return _resolve_combined(code, options.conformance)
    return _resolve_combined(row.basic, options.conformance)


def generic_date_action(options: ProfileOptions) -> Action:
    """The action for a DA, DT or TM attribute that Table E.1-1 does not list.

    Treated like the table's dates (``X/D`` with K under Full Dates and C under Modified
    Dates), so that no unlisted date survives unless dates are retained.
    """
    if options.retain_longitudinal is Longitudinal.FULL:
        return Action.KEEP
    if options.retain_longitudinal is Longitudinal.MODIFIED_DATES:
        return Action.CLEAN
    return _resolve_combined("X/D", options.conformance)


@dataclass(frozen=True)
class CompiledProfile:
    """Table E.1-1 resolved for one set of options: exact tags and repeating-group masks."""

    exact: Mapping[int, Action]
    masks: tuple[tuple[int, int, Action], ...]  # (mask, value, action)
    options: ProfileOptions

    def lookup(self, tag: int) -> Action | None:
        """The table's action for ``tag`` or ``None`` when the table does not list it."""
        action = self.exact.get(tag)
        if action is not None:
            return action
        for mask, value, act in self.masks:
            if tag & mask == value:
                return act
        return None


@functools.cache
def compile_profile(options: ProfileOptions) -> CompiledProfile:
    """Resolve every row of Table E.1-1 for ``options`` into a tag -> action lookup."""
    exact: dict[int, Action] = {}
    masks: list[tuple[int, int, Action]] = []
    for row in load_table():
        action = resolve_action(row, options)
        if row.is_mask:
            text = row.tag.upper()
            mask = int("".join("0" if c == "X" else "F" for c in text), 16)
            value = int("".join("0" if c == "X" else c for c in text), 16)
            masks.append((mask, value, action))
        else:
            exact[int(row.tag, 16)] = action
    return CompiledProfile(exact=exact, masks=tuple(masks), options=options)


# CID 7050 De-identification Method codes (scheme DCM).
_CODES: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_long_full_dates": (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "retain_long_modified_dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}


def method_codes(options: ProfileOptions) -> list[tuple[str, str, str]]:
    """CID 7050 codes ``(value, scheme, meaning)`` for DeidentificationMethodCodeSequence."""
    keys = ["basic", *options.enabled_columns()]
    return [(_CODES[k][0], "DCM", _CODES[k][1]) for k in keys if k in _CODES]


def method_description(options: ProfileOptions) -> list[str]:
    """Values (each <= 64 characters, LO) for DeidentificationMethod (0012,0063)."""
    return ["oncoatlas deid (PS3.15 Annex E)"] + [m for _, _, m in method_codes(options)]
