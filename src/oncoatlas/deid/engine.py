"""De-identify one DICOM data set or file (PS3.15 Annex E, Basic Profile and options).

Every element is visited, recursively through sequences, and given the action that
PS3.15 Table E.1-1 (see :mod:`oncoatlas.deid.profile`) and the general rules assign to it.
Elements that are kept are never decoded: their raw bytes are written back unchanged, so
text in any Specific Character Set survives byte for byte and pixel data is never decoded.

Beyond the table, the Patient ID becomes a keyed pseudonym (and the Patient's Name the same
pseudonym, a dummy allowed by action Z), and Patient Identity Removed, De-identification
Method, De-identification Method Code Sequence (CID 7050) and Longitudinal Temporal
Information Modified are set as PS3.15 E.1.1 and PS3.3 C.7.1.1 require.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pydicom.config
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from oncoatlas.deid.actions import (
    IDENTIFYING_KEYWORDS,
    NAME_KEYWORDS,
    TEXT_VRS,
    TextCleaner,
    dummy_value,
)
from oncoatlas.deid.burned_in import burned_in_reason
from oncoatlas.deid.profile import (
    SAFE_PRIVATE,
    Action,
    CompiledProfile,
    Longitudinal,
    ProfileOptions,
    compile_profile,
    generic_date_action,
    method_codes,
    method_description,
)
from oncoatlas.deid.pseudonyms import Pseudonymizer, shift_date, shift_datetime
from oncoatlas.deid.uids import UIDMapper, keeps_uid_attribute

__all__ = ["Deidentifier", "FileResult", "Status"]

logger = logging.getLogger(__name__)

_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_STRING_VRS = TEXT_VRS | {"DA", "DT", "TM", "IS", "DS", "AS", "UI", "UR"}
_BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_FILE_META_REMOVE = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SourcePresentationAddress",
    "SendingPresentationAddress",
    "ReceivingPresentationAddress",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)
_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
_DUMMY_LEAF_VRS = (TEXT_VRS - {"CS", "AE"}) | {"DA", "DT", "TM"}
_CLEAN_LEAF_VRS = TEXT_VRS - {"CS", "AE", "PN"}
_IDENTIFYING_TAGS = tuple((kw, int(tag_for_keyword(kw) or 0)) for kw in IDENTIFYING_KEYWORDS)
_DEFER_BYTES = 1 << 20  # values larger than this (pixel data) are read only when written


class Status:
    """Outcome of one file: written, quarantined (not written, with a reason) or failed."""

    DEIDENTIFIED = "deidentified"
    QUARANTINED = "quarantined"
    FAILED = "failed"


@dataclass
class FileResult:
    """What happened to one file.

    Attributes
    ----------
    status : str
        One of :class:`Status`.
    output : str or None
        Output path relative to the output root (``<patient>/<study>/<series>/<sop>.dcm``).
    reason : str
        Why a file was quarantined or failed (never holds identifying values).
    """

    status: str
    output: str | None = None
    reason: str = ""


@dataclass
class _Context:
    pseudonym: str
    offset_days: int
    cleaner_factory: Callable[[], TextCleaner]
    _cleaner: TextCleaner | None = field(default=None, repr=False)

    @property
    def cleaner(self) -> TextCleaner:
        if self._cleaner is None:
            self._cleaner = self.cleaner_factory()
        return self._cleaner


@contextlib.contextmanager
def _no_value_validation() -> Iterator[None]:
    """Skip pydicom's per-value validation while reading, de-identifying and writing.

    Kept values are copied as they are (validating them only costs time and warnings) and
    the values written here (pseudonyms, dummies, shifted dates, UIDs) are valid by
    construction.
    """
    settings = pydicom.config.settings
    saved = settings.reading_validation_mode, settings.writing_validation_mode
    settings.reading_validation_mode = pydicom.config.IGNORE
    settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = saved


def _elem(tag: Any, vr: str, value: Any) -> DataElement:
    return DataElement(tag, vr, value, validation_mode=pydicom.config.IGNORE)


@functools.lru_cache(maxsize=64)
def _cached_cleaner(values: tuple[str, ...], names: tuple[str, ...]) -> TextCleaner:
    # The files of one series share their identifying values: build the cleaner once.
    return TextCleaner(values, names)


def _vr_of(elem: Any, tag: int) -> str:
    vr = elem.VR
    if vr:
        return str(vr)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _empty(vr: str) -> Any:
    if vr == "SQ":
        return Sequence()
    if vr in _STRING_VRS:
        return ""
    if vr in _BYTES_VRS:
        return b""
    return None


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == b""
        or (isinstance(value, (MultiValue, list, tuple, Sequence)) and len(value) == 0)
    )


class Deidentifier:
    """Apply the Basic Application Level Confidentiality Profile (PS3.15 E.1) with options.

    Parameters
    ----------
    key : bytes
        The secret key (:func:`oncoatlas.deid.keys.load_key`); UIDs, patient pseudonyms and
        date offsets are keyed HMACs of the originals.
    options : ProfileOptions, optional
        The profile options (PS3.15 E.3); the Basic Profile alone by default.
    allow_burned_in : bool
        Write instances that may carry burned-in annotation instead of quarantining them
        (see :mod:`oncoatlas.deid.burned_in`).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName, ds.PatientID, ds.StudyInstanceUID = "DOE^JOHN", "12345", "1.2.3.4"
    >>> out = Deidentifier(b"k" * 32).deidentify_dataset(ds)
    >>> out.PatientID.startswith("ANON"), out.StudyInstanceUID.startswith("2.25.")
    (True, True)

    References
    ----------
    .. [1] DICOM PS3.15, Annex E, Table E.1-1 and E.3.
    """

    def __init__(
        self,
        key: bytes,
        options: ProfileOptions | None = None,
        *,
        allow_burned_in: bool = False,
    ) -> None:
        self.options = options or ProfileOptions()
        self.profile: CompiledProfile = compile_profile(self.options)
        self.allow_burned_in = allow_burned_in
        self.uids = UIDMapper(key)
        self.pseudonyms = Pseudonymizer(key)
        self._date_action = generic_date_action(self.options)
        self._made_dirs: set[Path] = set()
        self._method = method_description(self.options)
        self._codes = method_codes(self.options)
        self._longitudinal = {
            Longitudinal.OFF: "REMOVED",
            Longitudinal.FULL: "UNMODIFIED",
            Longitudinal.MODIFIED_DATES: "MODIFIED",
        }[self.options.retain_longitudinal]

    # ----------------------------------------------------------------- data sets
    def deidentify_dataset(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (recursively) and return it.

        The file meta information, when present, gets the new Media Storage SOP Instance
        UID and loses application entity titles and private information.
        """
        with _no_value_validation():
            return self._deidentify_dataset(ds)

    def _deidentify_dataset(self, ds: Dataset) -> Dataset:
        patient_id = str(ds.get("PatientID", "") or "").strip()
        if not patient_id:  # no id: key the pseudonym on name and birth date instead
            patient_id = "name:{}|{}".format(
                ds.get("PatientName", ""), ds.get("PatientBirthDate", "")
            )
        ctx = _Context(
            pseudonym=self.pseudonyms.patient_id(patient_id),
            offset_days=self.pseudonyms.date_offset_days(patient_id),
            cleaner_factory=lambda: self._cleaner_for(ds),
        )
        _ = ctx.cleaner  # collect identifying values before they are removed
        self._walk(ds, ctx)
        self._mark(ds)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for kw in _FILE_META_REMOVE:
                if kw in meta:
                    delattr(meta, kw)
            if "SOPInstanceUID" in ds:
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            if "SOPClassUID" in ds:
                meta.MediaStorageSOPClassUID = ds.SOPClassUID
        return ds

    def _cleaner_for(self, ds: Dataset) -> TextCleaner:
        values: list[str] = []
        names: list[str] = []
        for kw, tag in _IDENTIFYING_TAGS:
            if kw in ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName") and (
                self.options.retain_institution_identity
            ):
                continue
            if kw == "StationName" and self.options.retain_device_identity:
                continue
            if tag in ds:
                found = [str(v) for v in _values(ds[tag].value) if v is not None]
                (names if kw in NAME_KEYWORDS else values).extend(found)
        return _cached_cleaner(tuple(values), tuple(names))

    def _mark(self, ds: Dataset) -> None:
        ds[0x00120062] = _elem(0x00120062, "CS", "YES")  # PatientIdentityRemoved
        ds[0x00120063] = _elem(0x00120063, "LO", self._method)  # DeidentificationMethod
        items = []
        for value, scheme, meaning in self._codes:
            item = Dataset()
            item[0x00080100] = _elem(0x00080100, "SH", value)  # CodeValue
            item[0x00080102] = _elem(0x00080102, "SH", scheme)  # CodingSchemeDesignator
            item[0x00080104] = _elem(0x00080104, "LO", meaning)  # CodeMeaning
            items.append(item)
        ds[0x00120064] = _elem(0x00120064, "SQ", Sequence(items))
        ds[0x00280303] = _elem(0x00280303, "CS", self._longitudinal)

    def _walk(self, ds: Dataset, ctx: _Context, mode: str = "") -> None:
        """De-identify the elements of ``ds``.

        ``mode`` is set inside sequences whose action is D (``"dummy"``: every text, name,
        date or time the table does not address gets a dummy value, so an item keeps its
        structure but not its content) or C (``"clean"``: such text is cleaned).
        """
        private_kept_creators: set[int] = set()
        private_seen = False
        for btag in list(ds.keys()):
            tag = int(btag)
            group = tag >> 16
            elem = ds.get_item(btag)
            if group & 1:
                private_seen = True
                if self._keep_private(ds, tag):
                    private_kept_creators.add((group << 16) | ((tag & 0xFF00) >> 8))
                elif not (0x0010 <= (tag & 0xFFFF) <= 0x00FF):
                    del ds[btag]
                continue
            if (tag & 0xFFFF) == 0:  # group length
                continue
            vr = _vr_of(elem, tag)
            if tag in (_PATIENT_ID, _PATIENT_NAME):
                ds[btag] = _elem(btag, vr, ctx.pseudonym)
                continue
            action = self.profile.lookup(tag)
            if action is None:
                action = self._generic(tag, group, vr)
                if action is None or (action is Action.KEEP and vr != "SQ"):
                    if mode == "dummy" and vr in _DUMMY_LEAF_VRS:
                        action = Action.DUMMY
                    elif vr in _CLEAN_LEAF_VRS:
                        # Beyond Table E.1-1: text the table does not address (labels,
                        # private-free comments, segment names...) loses any identifying
                        # value of this data set that it quotes.
                        action = Action.CLEAN
                    else:
                        continue
            self._apply(ds, btag, tag, elem, vr, action, ctx, mode)
        if private_seen:
            for btag in list(ds.keys()):
                tag = int(btag)
                is_creator = tag >> 16 & 1 and 0x0010 <= (tag & 0xFFFF) <= 0x00FF
                if is_creator and tag not in private_kept_creators:
                    del ds[btag]

    def _keep_private(self, ds: Dataset, tag: int) -> bool:
        if not self.options.retain_safe_private:
            return False
        low = tag & 0xFFFF
        if low < 0x1000:
            return False
        group = tag >> 16
        creator_tag = (group << 16) | (low >> 8)
        if creator_tag not in ds:
            return False
        creator = str(ds[creator_tag].value or "").strip()
        return (creator, group, low & 0xFF) in SAFE_PRIVATE

    def _generic(self, tag: int, group: int, vr: str) -> Action | None:
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            return Action.REMOVE  # curves and overlays
        if vr == "UI":
            try:
                keyword = keyword_for_tag(tag)
            except KeyError:
                keyword = ""
            if keeps_uid_attribute(keyword) or self.options.retain_uids:
                return None
            return Action.UID
        if vr == "PN":
            return Action.REMOVE
        if vr in ("DA", "DT", "TM"):
            return self._date_action
        if vr == "SQ":
            return Action.KEEP
        return None

    def _recurse(self, ds: Dataset, btag: Any, ctx: _Context, mode: str) -> None:
        seq = ds[btag].value
        for item in seq or ():
            self._walk(item, ctx, mode)

    def _apply(
        self,
        ds: Dataset,
        btag: Any,
        tag: int,
        elem: Any,
        vr: str,
        action: Action,
        ctx: _Context,
        mode: str = "",
    ) -> None:
        if action is Action.REMOVE:
            del ds[btag]
            return
        if vr == "SQ":
            if action is Action.ZERO:
                ds[btag] = _elem(btag, "SQ", Sequence())
            elif action is Action.DUMMY:  # keep the items' structure, not their content
                self._recurse(ds, btag, ctx, "dummy")
            elif action is Action.CLEAN:
                self._recurse(ds, btag, ctx, "dummy" if mode == "dummy" else "clean")
            else:  # K or U on a sequence: keep it and de-identify its items
                self._recurse(ds, btag, ctx, mode)
            return
        if action is Action.KEEP:
            return
        if action is Action.ZERO:
            ds[btag] = _elem(btag, vr, _empty(vr))
            return
        value = ds[btag].value
        if _is_empty(value):
            return
        if action is Action.UID or (action is Action.DUMMY and vr == "UI"):
            new = [self.uids(str(v)) for v in _values(value)]
            ds[btag] = _elem(btag, "UI", new if len(new) > 1 else new[0])
            return
        if action is Action.DUMMY:
            dummy = dummy_value(vr)
            ds[btag] = _elem(btag, vr, _empty(vr) if dummy is None else dummy)
            return
        # Action.CLEAN
        if vr in ("DA", "DT"):
            if self.options.retain_longitudinal is not Longitudinal.MODIFIED_DATES:
                return
            shift = shift_date if vr == "DA" else shift_datetime
            shifted = [shift(str(v), ctx.offset_days) for v in _values(value)]
            if any(s is None for s in shifted):
                del ds[btag]  # unparsable date: cannot be shifted safely
                return
            ds[btag] = _elem(btag, vr, shifted if len(shifted) > 1 else shifted[0])
            return
        if vr in TEXT_VRS:
            values = [str(v) for v in _values(value)]
            cleaned = [ctx.cleaner.clean(v) for v in values]
            if cleaned != values:
                ds[btag] = _elem(btag, vr, cleaned if len(cleaned) > 1 else cleaned[0])
            elif isinstance(elem, RawDataElement):
                ds[btag] = elem  # unchanged: write the original bytes back, not a re-encoding
            return
        # TM (whole-day shifts leave times unchanged), numbers: kept.

    # ----------------------------------------------------------------- files
    def deidentify_file(
        self, src: str | os.PathLike[str], out_root: str | os.PathLike[str]
    ) -> FileResult:
        """Read ``src``, de-identify it and write it under ``out_root`` atomically.

        The output path is ``<patient pseudonym>/<study UID>/<series UID>/<SOP UID>.dcm``
        with the new UIDs, so no original identifier appears in the output tree. The transfer
        syntax is kept; pixel data are copied without decoding.

        Parameters
        ----------
        src : path-like
            The source file (never modified).
        out_root : path-like
            The output root folder.

        Returns
        -------
        FileResult
            The outcome; errors are returned as ``failed`` results, never raised.
        """
        with _no_value_validation():
            return self._deidentify_file(src, out_root)

    def _deidentify_file(
        self, src: str | os.PathLike[str], out_root: str | os.PathLike[str]
    ) -> FileResult:
        try:
            ds = pydicom.dcmread(src, defer_size=_DEFER_BYTES)
        except Exception as exc:
            return FileResult(Status.FAILED, reason=f"not readable as DICOM: {type(exc).__name__}")
        try:
            meta = getattr(ds, "file_meta", None) or Dataset()
            sop_class = str(meta.get("MediaStorageSOPClassUID", "") or ds.get("SOPClassUID", ""))
            if sop_class == _MEDIA_DIRECTORY:
                return FileResult(
                    Status.QUARANTINED, reason="DICOMDIR media directory is not copied; rebuild it"
                )
            if not self.allow_burned_in:
                reason = burned_in_reason(ds)
                if reason:
                    return FileResult(Status.QUARANTINED, reason=reason)
            truncated = _truncation(ds, src)
            if truncated:
                return FileResult(Status.FAILED, reason=truncated)
            for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                if not str(ds.get(kw, "") or "").strip():
                    return FileResult(Status.FAILED, reason=f"{kw} is missing")
            self._deidentify_dataset(ds)
            rel = Path(
                str(ds.PatientID),
                str(ds.StudyInstanceUID),
                str(ds.SeriesInstanceUID),
                f"{ds.SOPInstanceUID}.dcm",
            )
            self._ensure_file_meta(ds)
            self._write_atomic(ds, Path(out_root) / rel)
            return FileResult(Status.DEIDENTIFIED, output=rel.as_posix())
        except Exception as exc:
            logger.debug("de-identification failed: %s", type(exc).__name__)
            return FileResult(Status.FAILED, reason=f"{type(exc).__name__}: {_short(exc)}")

    def _write_atomic(self, ds: Dataset, target: Path) -> None:
        """Write beside ``target`` then rename over it: a partial file never takes its place."""
        parent = target.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            if len(self._made_dirs) > 10_000:
                self._made_dirs.clear()
            self._made_dirs.add(parent)
        tmp = parent / f".{target.name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                ds.save_as(fh, enforce_file_format=True)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @staticmethod
    def _ensure_file_meta(ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            meta = FileMetaDataset()
            ds.file_meta = meta
        if "TransferSyntaxUID" not in meta:
            implicit, _little = ds.original_encoding
            meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def _truncation(ds: Dataset, src: str | os.PathLike[str]) -> str:
    """Why the file looks truncated ("" if it does not): pydicom reads short values silently."""
    keys = list(ds.keys())
    if keys:
        last = ds.get_item(keys[-1])
        length = getattr(last, "length", None)
        if isinstance(last, RawDataElement) and length not in (None, 0xFFFFFFFF):
            if last.value is None:  # deferred: compare with the file size
                if last.value_tell + length > os.path.getsize(src):
                    return f"file is truncated inside {last.tag}"
            elif len(last.value) < length:
                return f"file is truncated inside {last.tag}"
    pixel_keys = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    if "Rows" in ds and "Columns" in ds and not any(k in ds for k in pixel_keys):
        return "image attributes without pixel data (truncated file?)"
    return ""


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:160]
