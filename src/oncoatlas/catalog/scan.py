"""Read DICOM headers (never pixel data) into flat per-file records.

Two readers produce the same record:

* a fast path, a minimal parser of the DICOM data-set encoding (PS3.5 §7) that walks the
  top-level data elements of a little-endian file (implicit or explicit VR, native or
  encapsulated pixel data), skips what it does not need by length, and decodes only the
  attributes of :data:`WANTED`. It reads only the first :data:`HEAD_BYTES` of a file unless the
  header is longer;
* pydicom (``dcmread(stop_before_pixels=True)``) for everything else: big-endian and deflated
  transfer syntaxes, files without the ``DICM`` prefix, unusual character sets, enhanced
  multi-frame images (per-frame functional groups) and SEG / RTSTRUCT objects (whose
  references to the segmented series live in sequences).

A file that cannot be read gives a record with ``status="error"`` and a ``reason``; it never
raises.

References
----------
DICOM PS3.5 (data structures and encoding), PS3.10 (media storage and file format),
PS3.3 C.8.20 (Segmentation), C.8.8.5 (Structure Set).
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["HEAD_BYTES", "RECORD_FIELDS", "WANTED", "read_header", "read_headers"]

logger = logging.getLogger(__name__)

#: Bytes read first from each file; most image headers fit in a few kilobytes.
HEAD_BYTES = 32768

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_DEFLATED = {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"}
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: tag -> (record key, VR) of the attributes the fast path decodes.
WANTED: dict[int, tuple[str, str]] = {
    0x00080005: ("_charset", "CS"),
    0x00080016: ("sop_class_uid", "UI"),
    0x00080018: ("sop_instance_uid", "UI"),
    0x00080020: ("study_date", "DA"),
    0x00080060: ("modality", "CS"),
    0x00080070: ("manufacturer", "LO"),
    0x00081030: ("study_description", "LO"),
    0x0008103E: ("series_description", "LO"),
    0x00081090: ("model", "LO"),
    0x00100020: ("patient_id", "LO"),
    0x00100040: ("patient_sex", "CS"),
    0x00101010: ("patient_age", "AS"),
    0x00180015: ("body_part", "CS"),
    0x00180050: ("slice_thickness", "DS"),
    0x0020000D: ("study_uid", "UI"),
    0x0020000E: ("series_uid", "UI"),
    0x00200011: ("series_number", "IS"),
    0x00200013: ("instance_number", "IS"),
    0x00200032: ("_position", "DS"),
    0x00200037: ("_orientation", "DS"),
    0x00200052: ("frame_of_reference_uid", "UI"),
    0x00280008: ("number_of_frames", "IS"),
    0x00280010: ("rows", "US"),
    0x00280011: ("columns", "US"),
    0x00280030: ("_pixel_spacing", "DS"),
}

#: tag -> key of the top-level sequences the fast path keeps (raw) for SEG, RTSTRUCT and
#: enhanced multi-frame objects.
WANTED_SQ: dict[int, str] = {
    0x00081115: "_ref_series",  # ReferencedSeriesSequence (SEG)
    0x00082112: "_source",  # SourceImageSequence
    0x00620002: "_segments",  # SegmentSequence
    0x52009229: "_shared",  # SharedFunctionalGroupsSequence
    0x30060010: "_ref_for",  # ReferencedFrameOfReferenceSequence (RTSTRUCT)
    0x30060020: "_rois",  # StructureSetROISequence
}

#: Keys of a file record, in table order (see ``oncoatlas.catalog.tables.FILES``).
RECORD_FIELDS: tuple[str, ...] = (
    "path", "size", "mtime_ns", "status", "reason",
    "patient_id", "patient_sex", "patient_age", "study_uid", "study_date", "study_description",
    "series_uid", "series_number", "series_description", "modality", "body_part",
    "manufacturer", "model", "sop_instance_uid", "sop_class_uid", "transfer_syntax",
    "instance_number", "frame_of_reference_uid", "number_of_frames", "rows", "columns",
    "slice_thickness", "pixel_spacing_row", "pixel_spacing_col",
    "image_position_x", "image_position_y", "image_position_z", "orientation",
    "seg_kind", "seg_labels", "ref_series", "ref_instances", "ref_frame_of_reference",
)

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_SAFE_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 6"}
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010


class _NeedMore(Exception):
    """The buffer ended inside the header; read the whole file."""


class _Fallback(Exception):
    """The fast path does not handle this file; use pydicom."""


def _empty(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    rec.update(path=path, size=size, mtime_ns=mtime_ns, status="ok")
    return rec


def _text(raw: bytes, charset: str) -> str:
    enc = "utf-8" if charset == "ISO_IR 192" else "latin-1"
    return raw.decode(enc, errors="replace").strip(" \x00")


def _floats(text: str | None) -> list[float]:
    if not text:
        return []
    out = []
    for part in text.split("\\"):
        part = part.strip()
        if part:
            try:
                out.append(float(part))
            except ValueError:
                return []
    return out


def _int(text: Any) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(float(str(text).strip()))
    except ValueError:
        return None


_HH = struct.Struct("<HH").unpack_from
_HHL = struct.Struct("<HHL").unpack_from
_HH2SH = struct.Struct("<HH2sH").unpack_from  # explicit VR header: group, element, VR, length
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<L").unpack_from
_SHORT_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
}


def _skip_undefined(buf: bytes, pos: int, explicit: bool) -> int:
    """Return the position after an undefined-length sequence value starting at ``pos``."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _NeedMore
        group, elem, length = _HHL(buf, pos)
        tag = (group << 16) | elem
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Fallback  # encapsulated fragments or malformed: let pydicom decide
        if length == _UNDEFINED:
            pos = _walk_item(buf, pos, explicit)
        else:
            pos += length


def _element(buf: bytes, pos: int, explicit: bool) -> tuple[int, int, int]:
    """Tag, value length and value offset of the data element at ``pos``."""
    n = len(buf)
    if pos + 8 > n:
        raise _NeedMore
    if explicit:
        group, elem, vr, length = _HH2SH(buf, pos)
        if vr in _SHORT_VRS:
            return (group << 16) | elem, length, pos + 8
        if vr in _LONG_VRS:
            if pos + 12 > n:
                raise _NeedMore
            return (group << 16) | elem, _U32(buf, pos + 8)[0], pos + 12
        if (group, elem) in ((0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)):
            return (group << 16) | elem, 0, pos + 8
        raise _Fallback
    group, elem, length = _HHL(buf, pos)
    return (group << 16) | elem, length, pos + 8


def _walk_item(buf: bytes, pos: int, explicit: bool) -> int:
    """Skip the data elements of an undefined-length item; return the position after it."""
    n = len(buf)
    while pos < n:
        tag, length, pos = _element(buf, pos, explicit)
        if tag == _ITEM_END:
            return pos
        if length == _UNDEFINED:
            pos = _skip_undefined(buf, pos, explicit)
        else:
            pos += length
    raise _NeedMore


class _Seq(bytes):
    """The raw value of a sequence (its items, without a sequence delimiter)."""


def _items(raw: bytes | None, explicit: bool) -> list[dict[int, bytes]]:
    """Parse the items of a raw sequence value into ``{tag: raw value}`` dicts (PS3.5 §7.5)."""
    out: list[dict[int, bytes]] = []
    if not raw:
        return out
    pos, n = 0, len(raw)
    while pos + 8 <= n:
        group, elem, length = _HHL(raw, pos)
        tag = (group << 16) | elem
        pos += 8
        if tag == _SEQ_END:
            break
        if tag != _ITEM:
            raise _Fallback
        item: dict[int, bytes] = {}
        stop = None if length == _UNDEFINED else pos + length
        limit = n if stop is None else stop
        while pos < limit:
            etag, elen, vpos = _element(raw, pos, explicit)
            if etag == _ITEM_END:
                pos = vpos
                break
            if elen == _UNDEFINED:
                nxt = _skip_undefined(raw, vpos, explicit)
                item[etag] = raw[vpos : nxt - 8]
                pos = nxt
            else:
                if vpos + elen > n:
                    raise _Fallback
                item[etag] = raw[vpos : vpos + elen]
                pos = vpos + elen
        if stop is not None:
            pos = stop
        out.append(item)
    return out


def _walk(buf: bytes, pos: int, explicit: bool, out: dict[str, Any]) -> int:
    """Walk top-level data elements from ``pos``; fill ``out`` with :data:`WANTED` values.

    Returns the position of the Pixel Data element (or any later tag), or the end of the
    buffer.
    """
    n = len(buf)
    wanted = WANTED
    while pos < n:
        if pos + 8 > n:
            raise _NeedMore
        if explicit:
            group, elem, vr, length = _HH2SH(buf, pos)
            tag = (group << 16) | elem
            if tag >= _PIXEL_DATA:
                return pos
            if vr in _SHORT_VRS:
                pos += 8
            elif vr in _LONG_VRS:
                if pos + 12 > n:
                    raise _NeedMore
                length = _U32(buf, pos + 8)[0]
                pos += 12
            else:
                raise _Fallback
        else:
            group, elem, length = _HHL(buf, pos)
            tag = (group << 16) | elem
            if tag >= _PIXEL_DATA:
                return pos
            pos += 8
        if length == _UNDEFINED:
            if tag in wanted:
                raise _Fallback
            start = pos
            pos = _skip_undefined(buf, pos, explicit)
            if tag in WANTED_SQ:
                out[WANTED_SQ[tag]] = _Seq(buf[start : pos - 8])
            continue
        end = pos + length
        if tag in WANTED_SQ:
            if end > n:
                raise _NeedMore
            out[WANTED_SQ[tag]] = _Seq(buf[pos:end])
        elif tag in wanted:
            if end > n:
                raise _NeedMore
            key, vr_name = wanted[tag]
            if vr_name == "US":
                out[key] = _U16(buf, pos)[0] if length >= 2 else None
            else:
                out[key] = buf[pos:end]
        pos = end
    if pos > n:
        raise _NeedMore
    return pos


def _fast(buf: bytes, rec: dict[str, Any]) -> int | None:
    """Parse ``buf`` (a file prefix); fill ``rec``; return the Pixel Data offset or None."""
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise _Fallback
    pos = 132
    meta: dict[int, bytes] = {}
    n = len(buf)
    while pos + 8 <= n:
        group, elem = struct.unpack_from("<HH", buf, pos)
        if group != 0x0002:
            break
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<L", buf, pos + 8)
            hdr = 12
        else:
            (length,) = struct.unpack_from("<H", buf, pos + 6)
            hdr = 8
        if length == _UNDEFINED or pos + hdr + length > n:
            raise _NeedMore if length != _UNDEFINED else _Fallback
        meta[elem] = buf[pos + hdr : pos + hdr + length]
        pos += hdr + length
    ts = meta.get(0x0010, b"").decode("ascii", "replace").strip(" \x00")
    media_class = meta.get(0x0002, b"").decode("ascii", "replace").strip(" \x00")
    if not ts or ts == _BIG_ENDIAN or ts in _DEFLATED or media_class == _DICOMDIR_CLASS:
        raise _Fallback
    rec["transfer_syntax"] = ts
    raw: dict[str, Any] = {}
    explicit = ts != _IMPLICIT_LE
    stop = _walk(buf, pos, explicit, raw)
    charset = raw.get("_charset", b"")
    charset_s = charset.decode("ascii", "replace").strip(" \x00").split("\\")[0] if charset else ""
    if charset_s not in _SAFE_CHARSETS:
        raise _Fallback
    seqs = {k: raw.pop(k) for k in list(raw) if isinstance(raw[k], _Seq)}
    for key, value in raw.items():
        if key == "_charset":
            continue
        if isinstance(value, bytes):
            value = _text(value, charset_s)
        raw[key] = value
    if seqs.get("_shared"):
        _fast_shared(raw, seqs["_shared"], explicit, charset_s)
    _finish(rec, raw)
    _fast_references(rec, seqs, explicit, charset_s)
    return stop if stop < len(buf) else None


def _fast_shared(raw: dict[str, Any], shared: bytes, explicit: bool, charset: str) -> None:
    """Pixel spacing, thickness and orientation from the shared functional groups."""
    items = _items(shared, explicit)
    if not items:
        return
    measures = _items(items[0].get(0x00289110), explicit)
    if measures:
        if not raw.get("_pixel_spacing") and 0x00280030 in measures[0]:
            raw["_pixel_spacing"] = _text(measures[0][0x00280030], charset)
        if not raw.get("slice_thickness") and 0x00180050 in measures[0]:
            raw["slice_thickness"] = _text(measures[0][0x00180050], charset)
    plane = _items(items[0].get(0x00209116), explicit)
    if plane and not raw.get("_orientation") and 0x00200037 in plane[0]:
        raw["_orientation"] = _text(plane[0][0x00200037], charset)


def _fast_references(rec: dict[str, Any], seqs: dict[str, Any], explicit: bool, charset: str) -> None:
    """The SEG / RTSTRUCT reference columns (as :func:`_references`, from raw sequences)."""
    sop_class = rec.get("sop_class_uid")
    modality = rec.get("modality")
    series: list[str] = []
    instances: list[str] = []
    frames: list[str] = []
    labels: list[str] = []

    def text(item: dict[int, bytes], tag: int) -> str:
        return _text(item.get(tag, b""), charset)

    if modality == "SEG" or sop_class == _SEG_CLASS:
        rec["seg_kind"] = "SEG"
        for item in _items(seqs.get("_ref_series"), explicit):
            if text(item, 0x0020000E):
                series.append(text(item, 0x0020000E))
            else:
                for inst in _items(item.get(0x0008114A), explicit):
                    if text(inst, 0x00081155):
                        instances.append(text(inst, 0x00081155))
        if not series:
            for item in _items(seqs.get("_source"), explicit):
                if text(item, 0x00081155):
                    instances.append(text(item, 0x00081155))
        for seg in _items(seqs.get("_segments"), explicit):
            labels.append(text(seg, 0x00620005))
        if rec.get("frame_of_reference_uid"):
            frames.append(rec["frame_of_reference_uid"])
    elif modality == "RTSTRUCT" or sop_class == _RTSTRUCT_CLASS:
        rec["seg_kind"] = "RTSTRUCT"
        for fr in _items(seqs.get("_ref_for"), explicit):
            if text(fr, 0x00200052):
                frames.append(text(fr, 0x00200052))
            for st in _items(fr.get(0x30060012), explicit):
                for se in _items(st.get(0x30060014), explicit):
                    if text(se, 0x0020000E):
                        series.append(text(se, 0x0020000E))
                    for ci in _items(se.get(0x30060016), explicit):
                        if text(ci, 0x00081155):
                            instances.append(text(ci, 0x00081155))
        for roi in _items(seqs.get("_rois"), explicit):
            labels.append(text(roi, 0x30060026))
    else:
        return
    rec["ref_series"] = "\\".join(dict.fromkeys(series)) or None
    rec["ref_instances"] = None if series else ("\\".join(dict.fromkeys(instances)) or None)
    rec["ref_frame_of_reference"] = "\\".join(dict.fromkeys(frames)) or None
    rec["seg_labels"] = "|".join(labels) or None


def _finish(rec: dict[str, Any], raw: dict[str, Any]) -> None:
    """Normalise decoded strings of ``raw`` into the record."""
    for key in (
        "sop_class_uid", "sop_instance_uid", "study_date", "modality", "manufacturer",
        "study_description", "series_description", "model", "patient_id", "patient_sex",
        "patient_age", "body_part", "study_uid", "series_uid", "frame_of_reference_uid",
    ):
        value = raw.get(key)
        rec[key] = str(value).strip() if value not in (None, "") else None
    if rec["body_part"]:
        rec["body_part"] = rec["body_part"].upper()
    for key in ("series_number", "instance_number", "number_of_frames", "rows", "columns"):
        rec[key] = _int(raw.get(key))
    thick = _floats(_as_text(raw.get("slice_thickness")))
    rec["slice_thickness"] = thick[0] if thick else None
    spacing = _floats(_as_text(raw.get("_pixel_spacing")))
    if len(spacing) >= 2:
        rec["pixel_spacing_row"], rec["pixel_spacing_col"] = spacing[0], spacing[1]
    pos = _floats(_as_text(raw.get("_position")))
    if len(pos) == 3:
        rec["image_position_x"], rec["image_position_y"], rec["image_position_z"] = pos
    ori = _floats(_as_text(raw.get("_orientation")))
    if len(ori) == 6:
        rec["orientation"] = "\\".join(f"{v:.4f}" for v in ori)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _pixel_truncation(buf: bytes, stop: int, size: int) -> str | None:
    """Check the Pixel Data element at ``stop`` fits in a file of ``size`` bytes."""
    if stop + 12 > len(buf):
        return None
    # (7FE0,0010) little- or big-endian; explicit VR OB/OW: 4-byte length after 2 reserved bytes
    endian = {b"\xe0\x7f\x10\x00": "<", b"\x7f\xe0\x00\x10": ">"}.get(bytes(buf[stop : stop + 4]))
    if endian is None:
        return None
    hdr = 12 if buf[stop + 4 : stop + 6] in (b"OB", b"OW") else 8
    (length,) = struct.unpack_from(endian + "L", buf, stop + hdr - 4)
    if length != _UNDEFINED and stop + hdr + length > size:
        return f"truncated: Pixel Data needs {stop + hdr + length} bytes, file has {size}"
    return None


#: record key -> DICOM keyword, for the pydicom path.
_KEYWORDS = {
    "sop_class_uid": "SOPClassUID", "sop_instance_uid": "SOPInstanceUID",
    "study_date": "StudyDate", "modality": "Modality", "manufacturer": "Manufacturer",
    "study_description": "StudyDescription", "series_description": "SeriesDescription",
    "model": "ManufacturerModelName", "patient_id": "PatientID", "patient_sex": "PatientSex",
    "patient_age": "PatientAge", "body_part": "BodyPartExamined",
    "slice_thickness": "SliceThickness", "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID", "series_number": "SeriesNumber",
    "instance_number": "InstanceNumber", "_position": "ImagePositionPatient",
    "_orientation": "ImageOrientationPatient", "frame_of_reference_uid": "FrameOfReferenceUID",
    "number_of_frames": "NumberOfFrames", "rows": "Rows", "columns": "Columns",
    "_pixel_spacing": "PixelSpacing",
}

#: Top-level attributes the pydicom path reads (others, e.g. per-frame functional groups and
#: RTSTRUCT contour data, are skipped by length; see ``dcmread(specific_tags=...)``).
_SPECIFIC = [
    *_KEYWORDS.values(), "SpecificCharacterSet", "SharedFunctionalGroupsSequence",
    "ReferencedSeriesSequence", "SourceImageSequence", "SegmentSequence",
    "ReferencedFrameOfReferenceSequence", "StructureSetROISequence", "DirectoryRecordSequence",
]


def _pydicom(path: str, rec: dict[str, Any]) -> tuple[dict[str, Any], bytes | None, int | None]:
    """Read with pydicom; fill ``rec`` (the fallback path).

    Returns the record, and the 12 bytes at the Pixel Data element with their offset (for the
    truncation check) when pydicom stopped there.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    tail: bytes | None = None
    stop: int | None = None
    try:
        with open(path, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, specific_tags=_SPECIFIC)
            stop = fh.tell()
            tail = fh.read(12)
    except InvalidDicomError:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=_SPECIFIC)
            _ = ds.get("SOPInstanceUID"), ds.get("SeriesInstanceUID")
        except Exception:
            return _error(rec, "not DICOM: no 'DICM' prefix and no readable data elements"), None, None
        if len(ds) == 0 or ds.get("SeriesInstanceUID") is None:
            return _error(rec, "not DICOM: no 'DICM' prefix and no SeriesInstanceUID"), None, None
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    media = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if media == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        reason = "DICOMDIR: a media directory, not an instance (its references are indexed)"
        return _error(rec, reason), None, None
    if ts in _DEFLATED:
        tail = stop = None
    rec["transfer_syntax"] = ts or (_EXPLICIT_LE if not ds.is_implicit_VR else _IMPLICIT_LE)
    raw: dict[str, Any] = {}
    try:
        for key, kw in _KEYWORDS.items():
            value = ds.get(kw)
            raw[key] = _as_text(value) if key.startswith("_") or key == "slice_thickness" else value
        # enhanced multi-frame: geometry in the shared functional groups
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            item = shared[0]
            measures = item.get("PixelMeasuresSequence")
            if measures:
                m = measures[0]
                raw["_pixel_spacing"] = raw["_pixel_spacing"] or _as_text(m.get("PixelSpacing"))
                raw["slice_thickness"] = raw["slice_thickness"] or _as_text(m.get("SliceThickness"))
            plane = item.get("PlaneOrientationSequence")
            if plane:
                raw["_orientation"] = raw["_orientation"] or _as_text(
                    plane[0].get("ImageOrientationPatient")
                )
        _finish(rec, raw)
        _references(ds, rec)
    except Exception as exc:  # malformed values deep in the header
        return _error(rec, f"unreadable: {type(exc).__name__}: {exc}"), None, None
    return rec, tail, stop


def _references(ds: Any, rec: dict[str, Any]) -> None:
    """Fill the SEG / RTSTRUCT reference columns of ``rec`` from data set ``ds``."""
    sop_class = rec.get("sop_class_uid")
    modality = rec.get("modality")
    series: list[str] = []
    instances: list[str] = []
    frames: list[str] = []
    labels: list[str] = []
    if modality == "SEG" or sop_class == _SEG_CLASS:
        rec["seg_kind"] = "SEG"
        for item in ds.get("ReferencedSeriesSequence", []) or []:
            if item.get("SeriesInstanceUID"):
                series.append(str(item.SeriesInstanceUID))
            else:  # instance references are parsed only when the series is not named
                for inst in item.get("ReferencedInstanceSequence", []) or []:
                    if inst.get("ReferencedSOPInstanceUID"):
                        instances.append(str(inst.ReferencedSOPInstanceUID))
        if not series:
            for item in ds.get("SourceImageSequence", []) or []:
                if item.get("ReferencedSOPInstanceUID"):
                    instances.append(str(item.ReferencedSOPInstanceUID))
        for seg in ds.get("SegmentSequence", []) or []:
            labels.append(str(seg.get("SegmentLabel", "")))
        if ds.get("FrameOfReferenceUID"):
            frames.append(str(ds.FrameOfReferenceUID))
    elif modality == "RTSTRUCT" or sop_class == _RTSTRUCT_CLASS:
        rec["seg_kind"] = "RTSTRUCT"
        for fr in ds.get("ReferencedFrameOfReferenceSequence", []) or []:
            if fr.get("FrameOfReferenceUID"):
                frames.append(str(fr.FrameOfReferenceUID))
            for st in fr.get("RTReferencedStudySequence", []) or []:
                for se in st.get("RTReferencedSeriesSequence", []) or []:
                    if se.get("SeriesInstanceUID"):
                        series.append(str(se.SeriesInstanceUID))
                    for ci in se.get("ContourImageSequence", []) or []:
                        if ci.get("ReferencedSOPInstanceUID"):
                            instances.append(str(ci.ReferencedSOPInstanceUID))
        for roi in ds.get("StructureSetROISequence", []) or []:
            labels.append(str(roi.get("ROIName", "")))
    else:
        return
    rec["ref_series"] = "\\".join(dict.fromkeys(series)) or None
    # instance references are needed only when no series is named (PS3.3 C.8.20.2 allows it)
    rec["ref_instances"] = None if series else ("\\".join(dict.fromkeys(instances)) or None)
    rec["ref_frame_of_reference"] = "\\".join(dict.fromkeys(frames)) or None
    rec["seg_labels"] = "|".join(labels) or None


def _error(rec: dict[str, Any], reason: str) -> dict[str, Any]:
    out = _empty(rec["path"], rec["size"], rec["mtime_ns"])
    out["status"] = "error"
    out["reason"] = reason
    return out


def read_header(path: str, size: int | None = None, mtime_ns: int | None = None) -> dict[str, Any]:
    """Read one file's header into a record (a dict with :data:`RECORD_FIELDS`).

    Parameters
    ----------
    path : str
        The file.
    size, mtime_ns : int, optional
        The file's size and modification time (``os.stat``); taken from the file if omitted.

    Returns
    -------
    dict
        ``status`` is ``"ok"`` or ``"error"`` (then ``reason`` says why: truncated, not DICOM,
        missing SeriesInstanceUID, unreadable, …). Never raises for a bad file.
    """
    if size is None or mtime_ns is None:
        try:
            st = os.stat(path)
        except OSError as exc:
            rec = _empty(path, 0, 0)
            return _error(rec, f"unreadable: {exc.strerror or exc}")
        size, mtime_ns = st.st_size, st.st_mtime_ns
    rec = _empty(path, size, mtime_ns)
    if size == 0:
        return _error(rec, "not DICOM: empty file (0 bytes)")
    try:
        with open(path, "rb") as fh:
            buf = fh.read(HEAD_BYTES)
            try:
                try:
                    stop = _fast(buf, rec)
                except _NeedMore:
                    if len(buf) >= size:
                        raise
                    buf += fh.read()
                    rec = _empty(path, size, mtime_ns)
                    stop = _fast(buf, rec)
            except _NeedMore:
                return _error(rec, f"truncated: the header runs past the end of the file ({size} bytes)")
            except _Fallback:
                rec = _empty(path, size, mtime_ns)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rec, tail, stop = _pydicom(path, rec)
                if tail is not None and stop is not None:
                    buf = bytes(stop) + tail
    except OSError as exc:
        return _error(rec, f"unreadable: {exc.strerror or exc}")
    except Exception as exc:  # pydicom raises many types on malformed input
        reason = str(exc).split("\n")[0]
        low = reason.lower()
        if "truncat" in low or "end of file" in low or ("bytes" in low and "read" in low):
            return _error(rec, f"truncated: {reason}")
        return _error(rec, f"unreadable: {type(exc).__name__}: {reason}")
    if rec["status"] != "ok":
        return rec
    if stop is not None:
        problem = _pixel_truncation(buf, stop, size)
        if problem:
            return _error(rec, problem)
    if not rec.get("series_uid"):
        return _error(rec, "missing SeriesInstanceUID")
    if not rec.get("sop_instance_uid"):
        return _error(rec, "missing SOPInstanceUID")
    if not rec.get("study_uid"):
        return _error(rec, "missing StudyInstanceUID")
    return rec


def read_headers(items: Sequence[tuple[str, int, int]] | Iterable[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Read many headers; ``items`` are ``(path, size, mtime_ns)`` (a process-pool task)."""
    return [read_header(p, s, m) for p, s, m in items]
