"""DICOM series → frames, geometry and pixels.

Reads single-frame series (one file per slice), enhanced multi-frame files (per-frame
functional groups, PS3.3 C.7.6.16) and single 2D images (mammography, radiographs).
Pixel data are decoded by pydicom with its pylibjpeg, pyjpegls and Pillow plugins (JPEG
baseline and lossless, JPEG 2000, HTJ2K, JPEG-LS, RLE), in a thread pool; uncompressed
little-endian data take a zero-copy path. The Modality LUT (RescaleSlope/Intercept, PS3.3
C.11.1) is applied per frame, giving float32 Hounsfield units for CT; PET in Bq/ml is
converted to body-weight SUV (decay-corrected to the series time) when the header allows it.

References
----------
DICOM PS3.3 C.7.6.2 (Image Plane), C.7.6.16 (Multi-frame Functional Groups), C.8.9.1
(PET Series: Units, DecayCorrection), C.11.1 (Modality LUT); QIBA FDG-PET/CT profile,
"SUV calculation" (body-weight SUV).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from oncoatlas.errors import DicomReadError
from oncoatlas.imaging.geometry import SliceInfo

__all__ = ["Frame", "SeriesFrames", "decode_frame", "decode_into", "read_series", "suv_factor"]

logger = logging.getLogger(__name__)

#: modalities of non-image objects skipped when a folder is scanned
NON_IMAGE_MODALITIES = frozenset(
    {"RTSTRUCT", "RTPLAN", "RTRECORD", "SEG", "SR", "PR", "KO", "REG", "RWV"}
)
#: projection modalities: a 2D image without ImagePositionPatient is normal for them
PROJECTION_MODALITIES = frozenset(
    {"MG", "CR", "DX", "XA", "RF", "US", "OT", "SC", "IO", "PX", "ES", "XC", "GM", "SM", "OP"}
)
_NATIVE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian}


@dataclass
class Frame:
    """One 2D frame of a series: where it is, how to decode and rescale it."""

    path: str
    index: int | None
    """Frame index inside a multi-frame file, ``None`` for a single-frame file."""
    info: SliceInfo
    slope: float = 1.0
    intercept: float = 0.0


@dataclass
class SeriesFrames:
    """The frames of one series with the header of its first image."""

    frames: list[Frame]
    header: Dataset
    rows: int
    columns: int
    pixels: list[npt.NDArray[np.float32]] | None = None
    """Decoded, rescaled frames (same order as ``frames``) when read eagerly."""
    extra: dict[str, Any] = field(default_factory=dict)


def _f(value: Any, default: float | None = None) -> float | None:
    try:
        if value is None or value == "":
            return default
        return float(value)
    except (TypeError, ValueError):
        return default


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _tuple(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        if value is None:
            return None
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(math.isfinite(v) for v in out) else None


_TEXT_TAGS = {
    kw: pydicom.tag.Tag(kw)
    for kw in (
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "ImagerPixelSpacing",
        "NominalScannedPixelSpacing",
        "SliceThickness",
        "RescaleSlope",
        "RescaleIntercept",
        "InstanceNumber",
        "FrameOfReferenceUID",
        "SeriesInstanceUID",
        "Modality",
        "NumberOfFrames",
    )
}


def _text(ds: Dataset, kw: str) -> str | None:
    """A text-VR attribute (DS, IS, UI, CS) straight from its raw bytes.

    pydicom's value conversion (validated ``DSfloat`` objects) costs more than reading the
    file for a series of small slices; these attributes are parsed here instead.
    """
    try:
        elem = ds.get_item(_TEXT_TAGS[kw])
    except KeyError:
        return None
    if elem is None:
        return None
    v = elem.value
    if v is None:
        return None
    if isinstance(v, bytes):
        text = v.decode("ascii", "replace").strip(" \x00")
    elif isinstance(v, str):
        text = v
    else:
        try:
            text = "\\".join(str(x) for x in v)
        except TypeError:
            text = str(v)
    return text or None


def _floats(ds: Dataset, kw: str, n: int) -> tuple[float, ...] | None:
    text = _text(ds, kw)
    return None if text is None else _tuple(text.split("\\"), n)


def _pixel_spacing(ds: Dataset) -> tuple[float, float]:
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        ps = _floats(ds, kw, 2)
        if ps is not None and ps[0] > 0 and ps[1] > 0:
            return (ps[0], ps[1])
    return (1.0, 1.0)


def _label(path: str, ds: Dataset, frame: int | None = None) -> str:
    name = Path(path).name
    inst = _int(_text(ds, "InstanceNumber"))
    if frame is not None:
        return f"{name} frame {frame + 1}"
    return f"{name} (instance {inst})" if inst is not None else name


def _frames_of(path: str, ds: Dataset) -> list[Frame]:
    """Describe the frames of one dataset (single- or multi-frame)."""
    nframes = _int(_text(ds, "NumberOfFrames")) or 1
    for_uid = _text(ds, "FrameOfReferenceUID")
    if nframes == 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        info = SliceInfo(
            label=_label(path, ds),
            position=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
            orientation=_floats(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
            pixel_spacing=_pixel_spacing(ds),
            instance_number=_int(_text(ds, "InstanceNumber")),
            frame_of_reference_uid=for_uid,
            slice_thickness=_f(_text(ds, "SliceThickness")),
        )
        return [
            Frame(
                path=path,
                index=None,
                info=info,
                slope=_f(_text(ds, "RescaleSlope"), 1.0) or 1.0,
                intercept=_f(_text(ds, "RescaleIntercept"), 0.0) or 0.0,
            )
        ]
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared_item = shared[0] if shared else Dataset()
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    frames: list[Frame] = []
    top_pos = _tuple(ds.get("ImagePositionPatient"), 3)
    top_ori = _tuple(ds.get("ImageOrientationPatient"), 6)
    step = _f(ds.get("SpacingBetweenSlices")) or _f(ds.get("SliceThickness"))

    def group(item: Dataset, seq: str, kw: str) -> Any:
        for src in (item, shared_item):
            s = src.get(seq)
            if s and kw in s[0]:
                return s[0].get(kw)
        return None

    for k in range(nframes):
        item = per_frame[k] if per_frame and k < len(per_frame) else Dataset()
        pos = _tuple(group(item, "PlanePositionSequence", "ImagePositionPatient"), 3)
        ori = _tuple(group(item, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        ps = _tuple(group(item, "PixelMeasuresSequence", "PixelSpacing"), 2)
        thick = _f(group(item, "PixelMeasuresSequence", "SliceThickness"))
        slope = _f(group(item, "PixelValueTransformationSequence", "RescaleSlope"))
        inter = _f(group(item, "PixelValueTransformationSequence", "RescaleIntercept"))
        if pos is None and top_pos is not None and top_ori is not None and step:
            # classic multi-frame (e.g. NM/MR): frames stacked along the normal
            normal = np.cross(top_ori[:3], top_ori[3:])
            pos = tuple(float(v) for v in np.asarray(top_pos) + k * step * normal)
        info = SliceInfo(
            label=_label(path, ds, k),
            position=pos,  # type: ignore[arg-type]
            orientation=(ori or top_ori),  # type: ignore[arg-type]
            pixel_spacing=ps if ps is not None else _pixel_spacing(ds),  # type: ignore[arg-type]
            instance_number=k + 1,
            frame_of_reference_uid=for_uid,
            slice_thickness=thick if thick is not None else _f(ds.get("SliceThickness")),
        )
        frames.append(
            Frame(
                path=path,
                index=k,
                info=info,
                slope=slope if slope is not None else (_f(ds.get("RescaleSlope"), 1.0) or 1.0),
                intercept=inter
                if inter is not None
                else (_f(ds.get("RescaleIntercept"), 0.0) or 0.0),
            )
        )
    if nframes > 1 and all(f.info.position is None for f in frames):
        # no per-frame geometry (cine, plain multi-frame): stack frames 1 mm apart
        for k, f in enumerate(frames):
            f.info.position = (0.0, 0.0, float(k))
            f.info.orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    return frames


def _check_image(path: str, ds: Dataset) -> None:
    spp = _int(ds.get("SamplesPerPixel")) or 1
    if spp != 1:
        raise DicomReadError(
            f"{path}: a colour image (SamplesPerPixel={spp}, PhotometricInterpretation="
            f"{ds.get('PhotometricInterpretation')}) is not a greyscale volume; read it with "
            "pydicom (ds.pixel_array) instead of open_volume"
        )
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DicomReadError(f"{path}: has no pixel data (Modality {ds.get('Modality')})")
    if _int(ds.get("Rows")) is None or _int(ds.get("Columns")) is None:
        raise DicomReadError(f"{path}: lacks Rows/Columns; the file is not a valid image")


def _native_view(ds: Dataset) -> npt.NDArray[Any] | None:
    """Zero-copy view of uncompressed little-endian single-frame pixel data, if possible."""
    try:
        ts = ds.file_meta.TransferSyntaxUID
    except AttributeError:
        return None
    if ts not in _NATIVE or "PixelData" not in ds:
        return None
    ba = _int(ds.get("BitsAllocated"))
    bs = _int(ds.get("BitsStored")) or ba
    pr = _int(ds.get("PixelRepresentation")) or 0
    if ba not in (8, 16, 32) or (_int(ds.get("NumberOfFrames")) or 1) != 1 or bs is None:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"<{'i' if pr else 'u'}{ba // 8}")
    buf = ds.PixelData
    if len(buf) < rows * cols * dtype.itemsize:
        return None
    arr = np.frombuffer(buf, dtype=dtype, count=rows * cols).reshape(rows, cols)
    if bs < ba:
        shift = ba - bs
        arr = (arr << shift) >> shift
    return arr


def _rescale(
    raw: npt.NDArray[Any], slope: float, intercept: float, factor: float
) -> npt.NDArray[np.float32]:
    out = raw.astype(np.float32)
    s, i = slope * factor, intercept * factor
    if s != 1.0:
        out *= np.float32(s)
    if i != 0.0:
        out += np.float32(i)
    return out


def decode_frame(
    frame: Frame, ds: Dataset | None = None, factor: float = 1.0
) -> npt.NDArray[np.float32]:
    """Decode one frame and apply its Modality LUT (and an extra unit factor).

    Parameters
    ----------
    frame
        The frame to decode.
    ds
        The frame's dataset if already read (with pixel data), else the file is read.
    factor
        Multiplies the rescaled values (the SUV factor for PET).
    """
    try:
        if frame.index is None:
            if ds is None:
                ds = pydicom.dcmread(frame.path)
            raw = _native_view(ds)
            if raw is None:
                raw = ds.pixel_array
        else:
            raw = pydicom.pixels.pixel_array(
                ds if ds is not None else frame.path, index=frame.index
            )
    except DicomReadError:
        raise
    except Exception as exc:
        ts = (
            ds.file_meta.get("TransferSyntaxUID", "?")
            if ds is not None and hasattr(ds, "file_meta")
            else "?"
        )
        name = getattr(ts, "name", ts)
        raise DicomReadError(
            f"{frame.info.label}: cannot decode pixel data (transfer syntax {name}): {exc}. "
            "The file may be truncated or corrupt; for a compressed transfer syntax, install the "
            "pydicom decoder plugin it needs (pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls) "
            "or transcode the file (e.g. gdcmconv --raw)."
        ) from exc
    if raw.ndim != 2:
        raise DicomReadError(
            f"{frame.info.label}: decoded pixel data has shape {raw.shape}, expected one 2D greyscale frame"
        )
    return _rescale(raw, frame.slope, frame.intercept, factor)


def _read(path: str, pixels: bool) -> tuple[Dataset | None, str | None]:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (InvalidDicomError, EOFError) as exc:
        return None, f"not a DICOM file ({exc})"
    except Exception as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    return ds, None


def _workers(n: int) -> int:
    return max(1, min(n, (os.cpu_count() or 2), 8))


def list_files(path: str | os.PathLike[str]) -> list[str]:
    """Files of a series folder (recursive, hidden files and DICOMDIR skipped)."""
    p = Path(path)
    out = [
        str(f)
        for f in sorted(p.rglob("*"))
        if f.is_file() and not f.name.startswith(".") and f.name.upper() != "DICOMDIR"
    ]
    if not out:
        raise DicomReadError(f"{p}: the folder holds no files; point at a DICOM series folder")
    return out


def read_series(
    paths: Sequence[str], *, pixels: bool = True, progress: Callable[[int], None] | None = None
) -> SeriesFrames:
    """Read the headers (and, if ``pixels``, the decoded frames) of one DICOM series.

    Non-DICOM files and non-image objects (RTSTRUCT, SEG, SR…) are skipped with a log line;
    files of several series raise :class:`~oncoatlas.errors.DicomReadError` listing them.
    """
    if not paths:
        raise DicomReadError("no files given; pass a DICOM series folder, files or a NIfTI file")

    def task(
        path: str,
    ) -> tuple[str, Dataset | None, str | None, list[npt.NDArray[np.float32]] | None]:
        ds, err = _read(path, pixels)
        if ds is None:
            return path, None, err, None
        mod = _text(ds, "Modality") or ""
        if mod in NON_IMAGE_MODALITIES:
            hint = "; open it with open_mask" if mod in ("SEG", "RTSTRUCT") else ""
            return path, None, f"skipped non-image object (Modality {mod}{hint})", None
        if (
            "PixelData" not in ds
            and "FloatPixelData" not in ds
            and "DoubleFloatPixelData" not in ds
            and pixels
        ):
            return path, None, "no pixel data", None
        return path, ds, None, None

    if len(paths) == 1:
        results = [task(paths[0])]
    else:
        with ThreadPoolExecutor(_workers(len(paths))) as pool:
            results = list(pool.map(task, paths))
    datasets: list[tuple[str, Dataset]] = []
    skipped: list[str] = []
    for path, ds, err, _ in results:
        if ds is None:
            skipped.append(f"{path}: {err}")
            logger.debug("skipping %s: %s", path, err)
        else:
            datasets.append((path, ds))
    if not datasets:
        detail = "; ".join(skipped[:3])
        raise DicomReadError(f"no DICOM image found among {len(paths)} file(s) ({detail})")
    uids: dict[str, int] = {}
    for _, ds in datasets:
        uid = _text(ds, "SeriesInstanceUID") or ""
        uids[uid] = uids.get(uid, 0) + 1
    if len(uids) > 1:
        detail = ", ".join(f"{u or '<none>'} ({c} files)" for u, c in uids.items())
        raise DicomReadError(
            f"the files belong to {len(uids)} series: {detail}; pass one series' files "
            "(or its SeriesInstanceUID with a catalog)"
        )
    for path, ds in datasets:
        if pixels:
            _check_image(path, ds)
        else:
            spp = _int(ds.get("SamplesPerPixel")) or 1
            if spp != 1:
                _check_image(path, ds)
    frames: list[Frame] = []
    owner: list[int] = []
    for n, (path, ds) in enumerate(datasets):
        fs = _frames_of(path, ds)
        frames.extend(fs)
        owner.extend([n] * len(fs))
    header = datasets[0][1]
    rows, cols = int(header.Rows), int(header.Columns)
    bad = [p for p, ds in datasets if (int(ds.Rows), int(ds.Columns)) != (rows, cols)]
    if bad:
        from oncoatlas.errors import SeriesGeometryError

        raise SeriesGeometryError(
            f"slices differ in size: {datasets[0][0]} is {rows}x{cols} but "
            f"{', '.join(bad[:5])} differ; split the series by Rows/Columns"
        )
    result = SeriesFrames(frames=frames, header=header, rows=rows, columns=cols)
    result.extra["datasets"] = [ds for _, ds in datasets] if pixels else None
    result.extra["owner"] = owner
    result.extra["skipped"] = skipped
    return result


#: compressed series with at least this many frames are decoded in worker processes
PROCESS_MIN_FRAMES = 8
_POOL: Any = None
_POOL_WORKERS = 0


def _mp_context() -> Any:
    """A safe multiprocessing context for decoding workers, or ``None`` to stay serial.

    ``fork`` when this process runs a single thread on Linux (fast, nothing re-imported);
    ``spawn`` in interactive sessions and notebooks (no ``__main__.__file__`` to re-run);
    otherwise ``None``: spawning from a multi-threaded script would re-execute the script
    in every worker unless it is guarded by ``if __name__ == "__main__"``.
    """
    import multiprocessing
    import sys
    import threading

    if multiprocessing.parent_process() is not None:
        return None  # never nest pools
    if threading.active_count() == 1 and sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    if getattr(sys.modules.get("__main__"), "__file__", None) is None:
        return multiprocessing.get_context("spawn")
    return None


def _pool(workers: int) -> Any:
    """A process pool kept for the session (created once, shut down at exit), or ``None``."""
    global _POOL, _POOL_WORKERS
    if _POOL is None or workers != _POOL_WORKERS:
        import atexit
        from concurrent.futures import ProcessPoolExecutor

        ctx = _mp_context()
        if ctx is None:
            return None
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = ProcessPoolExecutor(workers, mp_context=ctx)
        _POOL_WORKERS = workers
        atexit.register(_POOL.shutdown, wait=False, cancel_futures=True)
    return _POOL


_DECODE_KEYWORDS = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "PlanarConfiguration",
)


def _decode_payload(ds: Dataset) -> Dataset:
    """The part of a dataset a worker process needs to decode its pixel data."""
    small = Dataset()
    small.file_meta = pydicom.dataset.FileMetaDataset()
    small.file_meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
    for kw in _DECODE_KEYWORDS:
        if kw in ds:
            setattr(small, kw, ds[kw].value)
    small.PixelData = ds.PixelData
    small["PixelData"].VR = ds["PixelData"].VR
    return small


def _decode_in_worker(ds: Dataset) -> npt.NDArray[Any]:
    return np.asarray(pydicom.pixels.pixel_array(ds))


def _is_compressed(ds: Dataset) -> bool:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return ts is not None and bool(ts.is_compressed)


def decode_into(
    series: SeriesFrames,
    order: Sequence[int],
    factor: float = 1.0,
    *,
    workers: int | None = None,
) -> npt.NDArray[np.float32]:
    """Decode every frame of an eagerly read series into one ``(n, rows, cols)`` float32 array.

    Frame ``order[k]`` goes to ``out[k]``. Uncompressed little-endian frames are converted in
    place from the bytes already read; compressed frames of larger series are decoded in a
    pool of worker processes (pydicom's decoders hold the GIL, so threads would not run them
    in parallel); ``workers=1`` decodes in this process.
    """
    datasets: list[Dataset] = series.extra["datasets"]
    owner: list[int] = series.extra["owner"]
    n = len(order)
    out = np.empty((n, series.rows, series.columns), dtype=np.float32)
    multi: dict[int, npt.NDArray[Any]] = {}
    native_views: list[tuple[int, Frame, Dataset]] = []
    nproc = workers if workers is not None else min(os.cpu_count() or 1, 16)
    for k, i in enumerate(order):
        fr = series.frames[i]
        ds = datasets[owner[i]]
        if fr.index is not None:
            if owner[i] not in multi:
                try:
                    multi[owner[i]] = _decode_multiframe(ds, nproc)
                except Exception as exc:
                    raise DicomReadError(
                        f"{fr.path}: cannot decode pixel data "
                        f"({getattr(ds.file_meta.get('TransferSyntaxUID'), 'name', '?')}): {exc}"
                    ) from exc
            arr = multi[owner[i]]
            raw = arr[fr.index] if arr.ndim == 3 else arr
            _rescale_into(out[k], raw, fr, factor)
            continue
        native_views.append((k, fr, ds))
    pending = _convert_native(out, native_views, factor)
    if not pending:
        return out
    if (
        nproc > 1
        and len(pending) >= PROCESS_MIN_FRAMES
        and all(_is_compressed(ds) for _, _, ds in pending)
    ):
        pool = _pool(nproc)
        try:
            if pool is None:
                raise RuntimeError("no safe multiprocessing context")
            payloads = [_decode_payload(ds) for _, _, ds in pending]
            chunk = max(1, len(payloads) // (nproc * 4))
            results = pool.map(_decode_in_worker, payloads, chunksize=chunk)
            for (k, fr, _), raw in zip(pending, results, strict=True):
                _check_frame(raw, fr)
                _rescale_into(out[k], raw, fr, factor)
            return out
        except DicomReadError:
            raise
        except Exception as exc:  # a worker failed: decode here to get a precise error
            logger.info("parallel decoding failed (%s); decoding in this process", exc)
    for k, fr, ds in pending:
        out[k] = decode_frame(fr, ds, factor)
    return out


def _decode_multiframe(ds: Dataset, nproc: int) -> npt.NDArray[Any]:
    """All frames of a multi-frame dataset; compressed frames in worker processes."""
    nframes = _int(ds.get("NumberOfFrames")) or 1
    if nproc > 1 and nframes >= PROCESS_MIN_FRAMES and _is_compressed(ds) and "PixelData" in ds:
        pool = _pool(nproc)
        if pool is not None:
            try:
                from pydicom.encaps import encapsulate, generate_frames

                payloads = []
                for frame in generate_frames(ds.PixelData, number_of_frames=nframes):
                    one = _decode_payload(ds)
                    one.NumberOfFrames = 1
                    one.PixelData = encapsulate([frame])
                    one["PixelData"].VR = "OB"
                    payloads.append(one)
                chunk = max(1, nframes // (nproc * 4))
                return np.stack(list(pool.map(_decode_in_worker, payloads, chunksize=chunk)))
            except Exception as exc:  # decode here for a precise error
                logger.info("parallel multi-frame decoding failed (%s); decoding here", exc)
    return np.asarray(pydicom.pixels.pixel_array(ds))


def _convert_native(
    out: npt.NDArray[np.float32], items: list[tuple[int, Frame, Dataset]], factor: float
) -> list[tuple[int, Frame, Dataset]]:
    """Rescale uncompressed frames into ``out`` (threads: numpy releases the GIL).

    Returns the items that are not uncompressed little-endian and need a decoder.
    """
    rest: list[tuple[int, Frame, Dataset]] = []

    def run(chunk: list[tuple[int, Frame, Dataset]]) -> list[tuple[int, Frame, Dataset]]:
        left = []
        for k, fr, ds in chunk:
            native = _native_view(ds)
            if native is None:
                left.append((k, fr, ds))
            else:
                _rescale_into(out[k], native, fr, factor)
        return left

    nthreads = min(os.cpu_count() or 1, 8)
    if len(items) < 16 or nthreads == 1:
        return run(items)
    chunks = [items[i::nthreads] for i in range(nthreads)]
    with ThreadPoolExecutor(nthreads) as pool:
        for left in pool.map(run, chunks):
            rest.extend(left)
    rest.sort(key=lambda item: item[0])
    return rest


def _check_frame(raw: npt.NDArray[Any], fr: Frame) -> None:
    if raw.ndim != 2:
        raise DicomReadError(
            f"{fr.info.label}: decoded pixel data has shape {raw.shape}, expected one 2D greyscale frame"
        )


def _rescale_into(
    dst: npt.NDArray[np.float32], raw: npt.NDArray[Any], fr: Frame, factor: float
) -> None:
    _check_frame(raw, fr)
    s, i = fr.slope * factor, fr.intercept * factor
    if s != 1.0:
        np.multiply(raw, np.float32(s), out=dst, casting="unsafe")
        if i != 0.0:
            dst += np.float32(i)
    elif i != 0.0:
        np.add(raw, np.float32(i), out=dst, casting="unsafe")
    else:
        dst[...] = raw


def _parse_time(value: Any) -> float | None:
    """DICOM TM (HHMMSS.ffffff) → seconds after midnight."""
    s = str(value or "").strip().replace(":", "")
    if len(s) < 2:
        return None
    try:
        hh = int(s[0:2])
        mm = int(s[2:4]) if len(s) >= 4 else 0
        ss = float(s[4:]) if len(s) > 4 else 0.0
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def suv_factor(ds: Dataset) -> tuple[float, str, str | None]:
    """The factor turning a PET image's rescaled values into body-weight SUV.

    Returns ``(factor, units, reason)``: ``units`` is ``"SUV"`` when the values are (or
    become, after multiplying by ``factor``) body-weight SUV (g/ml), otherwise the raw
    Units value with factor 1 and ``reason`` saying why SUV could not be computed.

    Implements SUVbw = C(Bq/ml) x weight(g) / (injected dose(Bq) x decay), with decay to the
    series time when DecayCorrection is START (QIBA FDG-PET/CT profile; PS3.3 C.8.9.1).
    """
    units = str(ds.get("Units", "") or "").upper()
    if units == "GML":
        return 1.0, "SUV", None
    if units != "BQML":
        return (
            1.0,
            units or "unknown",
            f"PET Units {units or 'missing'} (only BQML converts to SUV)",
        )
    weight = _f(ds.get("PatientWeight"))
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not weight or weight <= 0:
        return 1.0, "BQML", "PatientWeight missing"
    if not seq:
        return 1.0, "BQML", "RadiopharmaceuticalInformationSequence missing"
    rp = seq[0]
    dose = _f(rp.get("RadionuclideTotalDose"))
    half = _f(rp.get("RadionuclideHalfLife"))
    if not dose or not half or dose <= 0 or half <= 0:
        return 1.0, "BQML", "RadionuclideTotalDose or RadionuclideHalfLife missing"
    corrected = [str(v) for v in (ds.get("CorrectedImage") or [])]
    if corrected and ("ATTN" not in corrected or "DECY" not in corrected):
        return 1.0, "BQML", f"CorrectedImage {corrected} lacks ATTN or DECY"
    decay_corr = str(ds.get("DecayCorrection", "START")).upper()
    decay = 1.0
    if decay_corr == "START":
        start = rp.get("RadiopharmaceuticalStartDateTime")
        t_inj = (
            _parse_time(str(start)[8:])
            if start
            else _parse_time(rp.get("RadiopharmaceuticalStartTime"))
        )
        t_ser = _parse_time(ds.get("SeriesTime")) or _parse_time(ds.get("AcquisitionTime"))
        if t_inj is None or t_ser is None:
            return 1.0, "BQML", "injection or series time missing"
        dt = t_ser - t_inj
        if dt < 0:
            dt += 86400.0  # crossed midnight
        decay = 2.0 ** (-dt / half)
    elif decay_corr != "ADMIN":
        return 1.0, "BQML", f"DecayCorrection {decay_corr} not supported"
    return float(weight * 1000.0 / (dose * decay)), "SUV", None
