"""Arrow schemas of the catalog's Parquet tables and the documentation of their columns.

Every node's folder ``DIR/<node>/`` holds one Parquet file per table (``series.parquet``,
``instances.parquet`` …), ``datasets.yaml`` and ``snapshot.json``. The same schemas are
written by the indexer, by clinical import and by the scale generator, so that a DuckDB view
over ``DIR/*/<table>.parquet`` sees one layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from oncoatlas.catalog.schema import CLINICAL_FIELDS, FieldKind

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["COLUMNS", "PUBLIC_TABLES", "SCHEMAS", "VIEWS", "empty_table", "series_key_base", "views_markdown"]

# Column types by name; Arrow schemas are built on first use so that importing the catalog
# (``oncoatlas query``) does not import pyarrow.
_S = "string"
_I = "int64"
_F = "double"
_B = "bool"

# (column, type, doc)
_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "patients": [
        ("patient_id", _S, "PatientID (pseudonymous)."),
        ("node", _S, "Node holding the data."),
        ("dataset", _S, "Dataset id (clinical table, else the node's first dataset, else 'default')."),
        ("sex", _S, "PatientSex from the DICOM headers (the clinical table's `sex` is the CDM value)."),
        ("age", _S, "PatientAge (DICOM AS, e.g. '063Y') of the first study."),
        ("n_studies", _I, "Number of studies."),
        ("n_series", _I, "Number of series."),
        ("n_instances", _I, "Number of instances (files)."),
    ],
    "studies": [
        ("study_uid", _S, "StudyInstanceUID."),
        ("patient_id", _S, "PatientID."),
        ("node", _S, "Node."),
        ("dataset", _S, "Dataset id."),
        ("study_date", _S, "StudyDate (YYYYMMDD)."),
        ("study_description", _S, "StudyDescription."),
        ("modalities", _S, "Modalities in the study, sorted, comma separated (e.g. 'CT,SEG')."),
        ("n_series", _I, "Number of series."),
        ("n_instances", _I, "Number of instances."),
    ],
    "series": [
        ("series_uid", _S, "SeriesInstanceUID."),
        ("series_key", _I, "Integer key of the series, unique in the catalog (node hash and rank); join `instances` on it: integer joins are several times faster than on `series_uid` at 60 M instances."),
        ("study_uid", _S, "StudyInstanceUID."),
        ("patient_id", _S, "PatientID."),
        ("node", _S, "Node."),
        ("dataset", _S, "Dataset id (see patients.dataset)."),
        ("modality", _S, "Modality (CT, MR, MG, PT, SEG, RTSTRUCT, …)."),
        ("body_part", _S, "BodyPartExamined, upper case."),
        ("manufacturer", _S, "Manufacturer."),
        ("model", _S, "ManufacturerModelName."),
        ("series_description", _S, "SeriesDescription."),
        ("series_number", _I, "SeriesNumber."),
        ("study_date", _S, "StudyDate (YYYYMMDD)."),
        ("slice_thickness", _F, "SliceThickness in mm (median over instances)."),
        ("pixel_spacing", _F, "PixelSpacing, row spacing in mm (median)."),
        ("pixel_spacing_col", _F, "PixelSpacing, column spacing in mm (median)."),
        ("rows", _I, "Rows (most common)."),
        ("columns", _I, "Columns (most common)."),
        ("n_instances", _I, "Number of instances (files)."),
        ("duplicate_instances", _I, "Number of files sharing their SOPInstanceUID with another file of the series (0 when clean)."),
        ("n_frames", _I, "Number of frames: NumberOfFrames summed (1 per single-frame instance)."),
        ("transfer_syntax", _S, "Transfer syntax UID(s), comma separated when mixed."),
        ("frame_of_reference_uid", _S, "FrameOfReferenceUID (most common)."),
        ("sop_class_uid", _S, "SOPClassUID (most common)."),
        ("has_segmentation", _B, "A SEG or RTSTRUCT in the catalog references this series."),
        ("n_segmentations", _I, "Number of SEG/RTSTRUCT objects referencing this series."),
        ("slice_spacing", _F, "Median distance in mm between consecutive slice positions along the slice normal."),
        ("uniform_spacing", _B, "Slice positions are equally spaced (within 1 % or 0.01 mm); null if < 3 positions."),
        ("missing_slices", _I, "Estimated number of missing slices (gaps that are multiples of the spacing)."),
        ("duplicate_positions", _I, "Number of instances sharing an image position with another."),
        ("mixed_orientation", _B, "Instances have different ImageOrientationPatient."),
        ("geometry_ok", _B, "A regular volume: uniform spacing, no missing or duplicated slices or instances, one orientation (null when not a slice stack)."),
        ("size_bytes", _I, "Total size of the series' files."),
        ("folder", _S, "Common folder of the series' files."),
    ],
    "instances": [
        ("sop_instance_uid", _S, "SOPInstanceUID."),
        ("series_uid", _S, "SeriesInstanceUID."),
        ("series_key", _I, "`series.series_key` of the instance's series."),
        ("study_uid", _S, "StudyInstanceUID."),
        ("patient_id", _S, "PatientID."),
        ("node", _S, "Node."),
        ("path", _S, "Absolute path of the file."),
        ("size", _I, "File size in bytes."),
        ("mtime_ns", _I, "File modification time (ns since the epoch)."),
        ("instance_number", _I, "InstanceNumber."),
        ("sop_class_uid", _S, "SOPClassUID."),
        ("transfer_syntax", _S, "TransferSyntaxUID."),
        ("number_of_frames", _I, "NumberOfFrames (null for single-frame objects)."),
        ("image_position_x", _F, "ImagePositionPatient x (mm, LPS)."),
        ("image_position_y", _F, "ImagePositionPatient y (mm, LPS)."),
        ("image_position_z", _F, "ImagePositionPatient z (mm, LPS)."),
        ("slice_location", _F, "Position along the slice normal (mm): ImagePositionPatient · (row × column)."),
    ],
    "segmentations": [
        ("seg_series_uid", _S, "SeriesInstanceUID of the SEG or RTSTRUCT."),
        ("seg_sop_instance_uid", _S, "SOPInstanceUID of the SEG or RTSTRUCT object."),
        ("referenced_series_uid", _S, "The image series it segments."),
        ("kind", _S, "SEG or RTSTRUCT."),
        ("labels", _S, "Segment labels (SEG) or ROI names (RTSTRUCT), '|' separated."),
        ("path", _S, "Path of the SEG/RTSTRUCT file."),
        ("patient_id", _S, "PatientID."),
        ("study_uid", _S, "StudyInstanceUID."),
        ("node", _S, "Node."),
    ],
    "errors": [
        ("path", _S, "File that could not be indexed."),
        ("reason", _S, "Why: 'truncated: …', 'not DICOM: …', 'missing SeriesInstanceUID', 'unreadable: …', 'DICOMDIR: …'."),
        ("size", _I, "File size in bytes."),
        ("mtime_ns", _I, "File modification time (ns)."),
        ("node", _S, "Node."),
    ],
}

_KIND_TYPES = {
    FieldKind.STRING: _S,
    FieldKind.CATEGORY: _S,
    FieldKind.INTEGER: _I,
    FieldKind.FLOAT: _F,
    FieldKind.BOOLEAN: _B,
}

_COLUMNS["clinical"] = [
    (f.name, _KIND_TYPES[f.kind], f.description + (f" Unit: {f.unit}." if f.unit else ""))
    for f in CLINICAL_FIELDS
] + [("node", _S, "Node.")]

#: Tables visible as views of a :class:`~oncoatlas.catalog.Catalog`.
PUBLIC_TABLES: tuple[str, ...] = (
    "patients", "studies", "series", "instances", "segmentations", "errors", "clinical",
)

#: ``{table: [(column, type name, doc)]}``; type names: string, int64, double, bool.
COLUMNS: dict[str, list[tuple[str, str, str]]] = _COLUMNS


def _arrow_type(name: str) -> pa.DataType:
    import pyarrow as pa

    return {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}[name]


class _Schemas(Mapping[str, "pa.Schema"]):
    """Arrow schema of each table, built on first access."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> pa.Schema:
        if name not in self._built:
            import pyarrow as pa

            cols = _COLUMNS[name]
            self._built[name] = pa.schema([pa.field(c, _arrow_type(t)) for c, t, _ in cols])
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_COLUMNS)

    def __len__(self) -> int:
        return len(_COLUMNS)


#: Arrow schema of each table (a lazy mapping).
SCHEMAS: Mapping[str, pa.Schema] = _Schemas()

#: Column documentation of each view: ``{view: {column: description}}``.
VIEWS: dict[str, dict[str, str]] = {
    name: {c: doc for c, _, doc in cols} for name, cols in _COLUMNS.items()
}


def empty_table(name: str) -> pa.Table:
    """An empty table with the schema of ``name``."""
    return SCHEMAS[name].empty_table()


def _files_schema() -> pa.Schema:
    import pyarrow as pa

    from oncoatlas.catalog.scan import RECORD_FIELDS

    ints = {"size", "mtime_ns", "series_number", "instance_number", "number_of_frames", "rows", "columns"}
    floats = {
        "slice_thickness", "pixel_spacing_row", "pixel_spacing_col",
        "image_position_x", "image_position_y", "image_position_z",
    }
    return pa.schema(
        [pa.field(k, _arrow_type(_I if k in ints else _F if k in floats else _S)) for k in RECORD_FIELDS]
    )


_FILES: list[Any] = []


def __getattr__(name: str) -> Any:
    # FILES_SCHEMA: schema of the private file-state table ``_files`` (built on first use)
    if name == "FILES_SCHEMA":
        if not _FILES:
            _FILES.append(_files_schema())
        return _FILES[0]
    raise AttributeError(name)


def series_key_base(node: str) -> int:
    """The high part of the ``series_key`` of every series of ``node``: CRC-32 of its name.

    ``series_key = series_key_base(node) + rank``, with ``rank`` < 2**31 the series' rank in its
    node; keys of different nodes never collide unless their names' CRC-32 do.
    """
    import zlib

    return zlib.crc32(node.encode("utf-8")) << 31


def views_markdown() -> str:
    """The views' column documentation as Markdown tables (for the README and docs)."""
    parts = []
    for view in PUBLIC_TABLES:
        parts.append(f"### `{view}`\n\n| column | type | description |\n|---|---|---|\n")
        for column, kind, doc in _COLUMNS[view]:
            parts.append(f"| `{column}` | {kind} | {doc} |\n")
        parts.append("\n")
    return "".join(parts)
