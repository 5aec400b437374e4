"""The common data model (CDM): the fields every node's catalog speaks.

One table of field definitions is the single source of truth for the demo generator (which
writes clinical CSV in this form), clinical import (which validates against it), the catalog
views and the criteria language (which checks cohort specs against it).

Clinical fields live in the ``clinical`` table (one row per patient); imaging fields in the
``series`` table; ``node`` and ``dataset`` in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CANCER_SITES",
    "CLINICAL_FIELDS",
    "FIELDS",
    "IMAGING_FIELDS",
    "STAGES",
    "Field",
    "FieldKind",
    "Table",
]


class FieldKind(StrEnum):
    """The type of a CDM field; decides which criteria a field accepts."""

    STRING = "string"  # free text or an open code list
    CATEGORY = "category"  # a closed code list (``values``)
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"


class Table(StrEnum):
    """The catalog table a CDM field lives in."""

    CLINICAL = "clinical"
    SERIES = "series"


@dataclass(frozen=True)
class Field:
    """One field of the common data model.

    Parameters
    ----------
    name : str
        snake_case name used in specs, CSV headers and catalog columns.
    kind : FieldKind
        Value type.
    table : Table
        Where the field lives.
    description : str
        What the field means, for documentation and error messages.
    values : tuple of str, optional
        The allowed codes of a ``CATEGORY`` field.
    minimum, maximum : float, optional
        The plausible range of a numeric field (inclusive).
    unit : str, optional
        Unit of a numeric field.
    required : bool
        Whether clinical import rejects a row where it is empty.
    """

    name: str
    kind: FieldKind
    table: Table
    description: str
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    required: bool = False
    aliases: tuple[str, ...] = field(default=())


#: ICD-10 topography codes used in the demo and accepted by ``cancer_site``; ``none`` marks
#: a cancer-free control. Any ICD-10 C code (C00–C97, optionally with a subsite) is valid.
CANCER_SITES: dict[str, str] = {
    "C34": "Malignant neoplasm of bronchus and lung",
    "C50": "Malignant neoplasm of breast",
    "C61": "Malignant neoplasm of prostate",
    "C18": "Malignant neoplasm of colon",
    "C49": "Malignant neoplasm of other connective and soft tissue",
    "none": "No cancer (control)",
}

#: Overall (AJCC/UICC) stage groups.
STAGES: tuple[str, ...] = ("0", "I", "II", "III", "IV")

_C = Table.CLINICAL
_S = Table.SERIES
_POSNEG = ("positive", "negative")

CLINICAL_FIELDS: tuple[Field, ...] = (
    Field("patient_id", FieldKind.STRING, _C, "Pseudonymous patient identifier (PatientID).", required=True),
    Field("sex", FieldKind.CATEGORY, _C, "Sex: F, M or O (other/unknown).", values=("F", "M", "O"), required=True),
    Field("age_at_diagnosis", FieldKind.INTEGER, _C, "Age in years at diagnosis (at inclusion for controls).", minimum=0, maximum=120, unit="years", required=True),
    Field("cancer_site", FieldKind.STRING, _C, "ICD-10 topography code (C34, C50, C61, …) or 'none' for a control.", required=True),
    Field("histology", FieldKind.STRING, _C, "Histology (e.g. adenocarcinoma, invasive ductal carcinoma)."),
    Field("stage", FieldKind.CATEGORY, _C, "Overall stage group.", values=STAGES),
    Field("t_stage", FieldKind.CATEGORY, _C, "TNM T category.", values=("TX", "T0", "Tis", "T1", "T2", "T3", "T4")),
    Field("n_stage", FieldKind.CATEGORY, _C, "TNM N category.", values=("NX", "N0", "N1", "N2", "N3")),
    Field("m_stage", FieldKind.CATEGORY, _C, "TNM M category.", values=("MX", "M0", "M1")),
    Field("er", FieldKind.CATEGORY, _C, "Breast: oestrogen receptor status.", values=_POSNEG),
    Field("pr", FieldKind.CATEGORY, _C, "Breast: progesterone receptor status.", values=_POSNEG),
    Field("her2", FieldKind.CATEGORY, _C, "Breast: HER2 status.", values=_POSNEG),
    Field("ki67", FieldKind.FLOAT, _C, "Breast: Ki-67 proliferation index.", minimum=0, maximum=100, unit="%"),
    Field("psa", FieldKind.FLOAT, _C, "Prostate: PSA at diagnosis.", minimum=0, maximum=10000, unit="ng/mL"),
    Field("gleason", FieldKind.STRING, _C, "Prostate: Gleason pattern, e.g. '3+4'."),
    Field("isup", FieldKind.INTEGER, _C, "Prostate: ISUP grade group.", minimum=1, maximum=5),
    Field("vital_status", FieldKind.CATEGORY, _C, "Vital status at last follow-up.", values=("alive", "dead")),
    Field("followup_months", FieldKind.FLOAT, _C, "Follow-up from diagnosis.", minimum=0, maximum=600, unit="months"),
    Field("dataset", FieldKind.STRING, _C, "Dataset identifier (from the node's datasets.yaml).", required=True),
)

IMAGING_FIELDS: tuple[Field, ...] = (
    Field("modality", FieldKind.STRING, _S, "DICOM Modality (CT, MR, MG, PT, SEG, RTSTRUCT, …)."),
    Field("body_part", FieldKind.STRING, _S, "BodyPartExamined, upper case (CHEST, BREAST, PROSTATE, …)."),
    Field("manufacturer", FieldKind.STRING, _S, "Manufacturer."),
    Field("model", FieldKind.STRING, _S, "ManufacturerModelName."),
    Field("series_description", FieldKind.STRING, _S, "SeriesDescription."),
    Field("slice_thickness", FieldKind.FLOAT, _S, "SliceThickness.", minimum=0, maximum=100, unit="mm"),
    Field("has_segmentation", FieldKind.BOOLEAN, _S, "Whether a SEG or RTSTRUCT references the series."),
    Field("node", FieldKind.STRING, _S, "The federation node holding the data."),
)

#: Every CDM field by name (clinical first; ``dataset`` and ``node`` are in both tables).
FIELDS: dict[str, Field] = {f.name: f for f in (*CLINICAL_FIELDS, *IMAGING_FIELDS)}
